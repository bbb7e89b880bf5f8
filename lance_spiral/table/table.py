"""Compressed Lance tables: open, read, write, query, versions and indexes of one table.

A :class:`CompressedTable` is a plain Lance dataset (any Lance or LanceDB client opens it; with
LanceDB, connect to the parent folder and open the table by its name without ``.lance``).
Vectors are stored as codes in an extension-typed column (see :mod:`lance_spiral.arrow`);
in ``compressed`` mode no float column is kept and 1-bit candidate codes plus an IVF partition
column serve the candidate stage; in ``alongside`` mode a float column with a Lance vector index
gives candidates and the codes re-rank them. Create one with
:func:`lance_spiral.table.create_table`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import check_int
from lance_spiral.arrow import add_params_dir, codes_of
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import Codec
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError, TableError
from lance_spiral.table.ingest import vectors_from_arrow
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.query import Query
from lance_spiral.table.snapshot import Snapshot, list_indices
from lance_spiral.table.sql import lance_error, sql_in
from lance_spiral.table.hotload import StateCache
from lance_spiral.table.state import HotState, check_memory
from lance_spiral.table.writes import add_rows, delete_rows, update_rows, upsert_rows

__all__ = ["MODES", "CompressedTable", "open_table"]

MODES = ("compressed", "alongside")
_LANCE_METRIC = {"cosine": "cosine", "ip": "dot", "l2": "l2"}


def open_table(uri: str, *, version: int | None = None, memory: str = "ram",
               cache_dir: str | None = None) -> CompressedTable:
    """Open an existing compressed table (latest version, or ``version`` read-only).

    ``memory="disk"`` keeps only the 1-bit candidate codes and IVF partitions in RAM and reads
    the re-rank codes of each query's few candidates from the table (through the local folder
    ``cache_dir`` if given, e.g. for ``s3://``); ``"ram"`` (default) keeps every code resident.

    Raises:
        NotFoundError: No table at ``uri`` (or no such version).
        FormatVersionError: The table was written by a newer lance-spiral format.
    """
    try:
        ds = lance.dataset(uri, version=version)
    except (ValueError, OSError) as exc:
        raise NotFoundError(f"no lance table at {uri}" + (
            f" with version {version}" if version is not None else "") + f": {exc}") from exc
    return CompressedTable(uri, ds, read_only=version is not None, memory=memory,
                           cache_dir=cache_dir)


class CompressedTable:
    """A Lance table of compressed vectors (see module docs). Create with :func:`create_table`."""

    def __init__(self, uri: str, ds: lance.LanceDataset, *, read_only: bool = False,
                 memory: str = "ram", cache_dir: str | None = None) -> None:
        self.uri = uri
        self._ds = ds
        self.meta = TableMeta.from_schema(ds.schema, uri)
        self._side = SideStore(uri)
        self._read_only = read_only
        self._states = StateCache(self._side, memory=check_memory(memory), cache_dir=cache_dir)
        self._state_lock = threading.RLock()
        if "://" not in uri or uri.startswith("file://"):
            add_params_dir(self._side.root)

    # ------------------------------------------------------------------ properties
    @property
    def dataset(self) -> lance.LanceDataset:
        """The underlying Lance dataset (at this handle's version)."""
        return self._ds

    @property
    def schema(self) -> pa.Schema:
        """The Lance schema (payload, id and the library's columns)."""
        return self._ds.schema

    @property
    def dim(self) -> int | None:
        """Vector width (``None`` for an empty table created without ``dim``)."""
        return self.meta.dim

    @property
    def metric(self) -> str:
        """The metric: ``ip``, ``cosine`` or ``l2``."""
        return self.meta.metric

    @property
    def mode(self) -> str:
        """``compressed`` or ``alongside``."""
        return self.meta.mode

    @property
    def version(self) -> int:
        """The Lance version this handle reads."""
        return int(self._ds.version)

    @property
    def codec(self) -> Codec | None:
        """The fitted codec in use (``None`` before the first rows)."""
        return None if self.meta.codec_file is None else self._side.get_codec(self.meta.codec_file)

    def __len__(self) -> int:
        return self.count_rows()

    def __repr__(self) -> str:
        return (f"CompressedTable({self.uri!r}, mode={self.mode}, metric={self.metric}, "
                f"dim={self.dim}, codec={self.meta.codec_spec!r}, version={self.version})")

    def count_rows(self, where: str | None = None) -> int:
        """Number of rows (matching the SQL filter ``where`` if given)."""
        try:
            return int(self._ds.count_rows(filter=where))
        except (ValueError, OSError) as exc:
            raise lance_error(exc, where) from exc

    def disk_bytes(self) -> int:
        """Bytes of the whole table directory (all versions, indexes, side files)."""
        import pyarrow.fs as pafs

        fs, root = pafs.FileSystem.from_uri(
            self.uri if "://" in self.uri else os.path.abspath(self.uri))
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        return int(sum(i.size or 0 for i in infos if i.type == pafs.FileType.File))

    def refresh(self) -> CompressedTable:
        """Move this handle to the latest version (other writers' commits become visible)."""
        if self._read_only:
            raise TableError("a checked-out version is read-only; open_table() for the latest")
        self._reload(lance.dataset(self.uri))
        return self

    def _reload(self, ds: lance.LanceDataset) -> None:
        meta = TableMeta.from_schema(ds.schema, self.uri)
        with self._state_lock:
            if int(ds.version) < int(self._ds.version):
                return
            self._ds, self.meta = ds, meta
        self._states.advance(ds, meta)

    def _writable(self) -> None:
        if self._read_only:
            raise TableError(f"table {self.uri} is checked out at version {self.version}:"
                             " read-only (restore() it or open_table() the latest)")
        self._reload(lance.dataset(self.uri))

    def hot_state(self) -> HotState:
        """The search arrays of this version (built on first use, then extended per version).

        Raises:
            TableError: The table has no codec yet (no rows were ever added).
        """
        state = self.snapshot().state
        if state is None:
            raise TableError(f"table {self.uri} has no rows yet (no codec, no search state)")
        return state

    def snapshot(self) -> Snapshot:
        """This handle's version, taken at once: dataset, metadata and hot state together.

        Thread-safe: a write on another thread moves the handle to a new version, never the
        parts of a snapshot already taken (see :mod:`lance_spiral.table.snapshot`).
        """
        with self._state_lock:
            ds, meta = self._ds, self.meta
        state = None if meta.codec_file is None else self._states.get(ds, meta)
        return Snapshot(uri=self.uri, dataset=ds, meta=meta, side=self._side, state=state)

    @property
    def memory(self) -> str:
        """Memory mode of this handle's search state: ``"ram"`` or ``"disk"``."""
        return self._states.memory

    def resident_bytes(self) -> int:
        """Bytes of this version's search state held in RAM (built first if needed).

        ``"ram"`` mode: codes, 1-bit candidate codes, partitions; ``"disk"`` mode: only the
        candidate codes and partitions (see ``docs/search.md``). Payload is never resident.
        """
        state = self.snapshot().state
        return 0 if state is None else state.resident_bytes()

    # ----------------------------------------------------------------------- writes
    def add(self, data: Any, *, progress: bool = False) -> int:
        """Append rows in one atomic commit; returns the number of rows added.

        Raises:
            DimensionError: Vectors of another width than the table's.
            NonFiniteError, InvalidInputError, DTypeError: Bad rows.
            TableError: Read-only handle.
        """
        self._writable()
        n_before = self._ds.count_rows()
        self._reload(add_rows(self.uri, self._ds, self.meta, self._side, data,
                              progress=progress))
        return self._ds.count_rows() - n_before

    def upsert(self, data: Any) -> dict[str, int]:
        """Merge-insert on the id column: update rows whose id exists, insert the others.

        Returns:
            ``{"inserted": n, "updated": n}``.
        """
        self._writable()
        ds, counts = upsert_rows(self.uri, self._ds, self.meta, self._side, data)
        self._reload(ds)
        return counts

    def delete(self, where: str) -> int:
        """Delete rows matching the SQL filter ``where``; returns the number deleted."""
        if not isinstance(where, str) or not where.strip():
            raise InvalidInputError("delete() needs a non-empty SQL filter (use 'true' for all)")
        self._writable()
        before = self.count_rows()
        self._reload(delete_rows(self.uri, self._ds, where))
        return before - self.count_rows()

    def delete_ids(self, ids: Sequence[Any]) -> int:
        """Delete rows by id (unknown ids are ignored); returns the number deleted."""
        ids = list(ids)
        if not ids:
            return 0
        return self.delete(sql_in(self.meta.id_column, ids))

    def update(self, where: str | None, values: dict[str, Any]) -> int:
        """Set payload columns to literal ``values`` on rows matching ``where`` (all if None).

        Returns:
            The number of rows updated.

        Raises:
            InvalidInputError: Unknown or protected columns (id, vector, codes), bad filter.
        """
        if not isinstance(values, dict) or not values:
            raise InvalidInputError("update() needs a non-empty dict of column -> value")
        self._writable()
        ds, n = update_rows(self.uri, self._ds, self.meta, where, values)
        self._reload(ds)
        return n

    # ------------------------------------------------------------------------ reads
    def get(self, ids: Sequence[Any], *, with_vectors: bool = False) -> pa.Table:
        """Rows with the given ids, in the given order (unknown ids omitted).

        Args:
            ids: Ids to fetch.
            with_vectors: Add the decoded (or stored float) vectors as ``vector_column``.
        """
        m = self.meta
        ids = list(ids)
        cols = [m.id_column, *m.payload]
        if not ids or self.count_rows() == 0:
            return pa.table({c: pa.array([], self._ds.schema.field(c).type) for c in cols})
        src = m.vector_column if m.mode == "alongside" else m.codes_column
        tbl = self._ds.to_table(columns=[*cols, src] if with_vectors else cols,
                                filter=sql_in(m.id_column, ids))
        pos = {v: i for i, v in enumerate(tbl.column(m.id_column).to_pylist())}
        order = [pos[i] for i in ids if i in pos]
        out = tbl.take(pa.array(order, pa.int64()))
        if with_vectors:
            vec = self.decode_column(out.column(src))
            out = out.drop_columns([src]).append_column(
                m.vector_column,
                pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1)), vec.shape[1]))
        return out

    def decode_column(self, col: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.float32]:
        """Float vectors from a codes column (or a stored float column) of this table."""
        if self.meta.mode == "alongside":
            return vectors_from_arrow(col, self.meta.vector_column)
        codec = self.codec
        if codec is None:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return codec.decode(codes_of(col))

    def to_arrow(self) -> pa.Table:
        """The whole table as stored."""
        return self._ds.to_table()

    def search(self, query: Any = None) -> Query:
        """Start a vector query (LanceDB idiom); see :class:`lance_spiral.table.query.Query`."""
        return Query(self, query)

    # ---------------------------------------------------------------- versions, indexes
    def versions(self) -> list[dict[str, Any]]:
        """All versions: ``[{"version": int, "timestamp": datetime}, ...]``."""
        return [{"version": int(v["version"]), "timestamp": v["timestamp"]}
                for v in self._ds.versions()]

    def checkout(self, version: int) -> CompressedTable:
        """A read-only view of ``version``."""
        check_int(version, "version", lo=1)
        return open_table(self.uri, version=version)

    def restore(self, version: int) -> None:
        """Make ``version`` the latest (a new commit; history is kept)."""
        check_int(version, "version", lo=1)
        self._writable()
        try:
            old = lance.dataset(self.uri, version=version)
        except (ValueError, OSError) as exc:
            raise NotFoundError(f"table {self.uri} has no version {version}") from exc
        TableMeta.from_schema(old.schema, self.uri)
        old.restore()
        self._reload(lance.dataset(self.uri))

    def compact(self) -> None:
        """Merge small fragments and drop deleted rows (Lance ``compact_files``)."""
        self._writable()
        self._ds.optimize.compact_files()
        self._reload(lance.dataset(self.uri))

    def create_scalar_index(self, column: str, *, index_type: str = "BTREE",
                            replace: bool = True) -> None:
        """Create a Lance scalar index (BTREE, BITMAP...) on a payload or id column."""
        if column not in self._ds.schema.names or column in self.meta.internal_columns():
            raise InvalidInputError(f"cannot index column {column!r}; columns: "
                                    f"{[self.meta.id_column, *self.meta.payload]}")
        self._writable()
        self._ds.create_scalar_index(column, index_type=index_type,  # type: ignore[arg-type]
                                     replace=replace)
        self._reload(lance.dataset(self.uri))

    def create_vector_index(self, index_type: str = "IVF_PQ", **kwargs: Any) -> None:
        """Alongside mode: build a Lance vector index on the float column (candidate stage).

        Args:
            index_type: ``IVF_PQ``, ``IVF_RQ``, ``IVF_SQ``, ``IVF_HNSW_SQ``...
            **kwargs: Passed to ``LanceDataset.create_index`` (num_partitions,
                num_sub_vectors, ...).
        """
        if self.meta.mode != "alongside":
            raise TableError("vector indexes need a float column: create the table in"
                             " mode='alongside' (compressed mode has its own IVF)")
        self._writable()
        try:
            self._ds.create_index(self.meta.vector_column, index_type=index_type,
                                  metric=_LANCE_METRIC[self.metric], **kwargs)
        except (ValueError, OSError, TypeError) as exc:
            raise InvalidParameterError(f"cannot build {index_type} index: {exc}") from exc
        self._reload(lance.dataset(self.uri))

    def has_vector_index(self) -> bool:
        """Whether the float column has a Lance vector index (alongside mode)."""
        return any(self.meta.vector_column in idx.get("fields", [])
                   for idx in list_indices(self._ds))
