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

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import check_int
from lance_spiral.arrow import add_params_dir, codes_of
from lance_spiral.arrow.sidefiles import filesystem
from lance_spiral.codecs import Codec
from lance_spiral.errors import InvalidParameterError, TableError
from lance_spiral.table.commit import Target
from lance_spiral.table.hotload import StateCache
from lance_spiral.table.ingest import vectors_from_arrow
from lance_spiral.table.integrity import guarded_read
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.mutations import TableWrites
from lance_spiral.table.query import Query
from lance_spiral.table.snapshot import Snapshot, list_indices
from lance_spiral.table.sql import lance_error, sql_in
from lance_spiral.table.state import HotState, check_memory

__all__ = ["MODES", "CompressedTable", "open_table"]

MODES = ("compressed", "alongside")


def open_table(uri: str, *, version: int | None = None, memory: str = "ram",
               cache_dir: str | None = None, storage_options: dict[str, str] | None = None
               ) -> CompressedTable:
    """Open an existing compressed table (latest version, or ``version`` read-only).

    ``memory="disk"`` keeps only the 1-bit candidate codes and IVF partitions in RAM and reads
    the re-rank codes of each query's few candidates from the table (through the local folder
    ``cache_dir`` if given, e.g. for ``s3://``); ``"ram"`` (default) keeps every code resident.
    ``storage_options`` are Lance's object-store options (``aws_endpoint``, ``allow_http``,
    ``aws_region``, ``aws_access_key_id``, ``aws_secret_access_key``...), used for the dataset
    and the side files; they are never shown in reprs or errors.

    Raises:
        NotFoundError: No table at ``uri`` (or no such version).
        FormatVersionError: The table was written by a newer lance-spiral format.
        CorruptDataError: Unreadable table metadata or manifest.
    """
    target = Target(_check_uri(uri), storage_options)
    ds = target.open(version)
    return CompressedTable(uri, ds, read_only=version is not None, memory=memory,
                           cache_dir=cache_dir, storage_options=storage_options)


def _check_uri(uri: Any) -> str:
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterError(f"uri must be a non-empty string, got {uri!r}")
    return uri


class CompressedTable(TableWrites):
    """A Lance table of compressed vectors (see module docs). Create with :func:`create_table`."""

    def __init__(self, uri: str, ds: lance.LanceDataset, *, read_only: bool = False,
                 memory: str = "ram", cache_dir: str | None = None,
                 storage_options: dict[str, str] | None = None) -> None:
        self.uri = uri
        self._ds = ds
        self.meta = TableMeta.from_schema(ds.schema, uri)
        self._target = Target(uri, storage_options)
        self._side = self._target.side
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
        m = self.meta
        stored = "" if not m.provisional or m.codec_file is None else (
            f" (stored as {m.stored_codec or 'a provisional codec'!r} until {m.fit_rows} rows)")
        return (f"CompressedTable({self.uri!r}, mode={m.mode}, metric={m.metric}, "
                f"dim={m.dim}, codec={m.codec_spec!r}{stored}, version={self.version})")

    def count_rows(self, filter: Mapping[str, Any] | None = None, *, sql: str | None = None
                   ) -> int:
        """Number of rows, or of rows matching a filter.

        Args:
            filter: A dict filter (``{"year": {"$gte": 2000}}``; see
                :mod:`lance_spiral.table.sql.filters`), safe for untrusted input.
            sql: Raw Lance SQL instead (trusted input only).

        Raises:
            InvalidInputError: A string passed as ``filter``, or a bad filter.
        """
        where = self._predicate(filter, sql)
        try:
            return int(self._ds.count_rows(filter=where))
        except (ValueError, OSError) as exc:
            raise lance_error(exc, where) from exc

    def disk_bytes(self) -> int:
        """Bytes of the whole table directory (all versions, indexes, side files)."""
        import pyarrow.fs as pafs

        fs, root = filesystem(self.uri, self._target.storage_options)
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        return int(sum(i.size or 0 for i in infos if i.type == pafs.FileType.File))

    def refresh(self) -> CompressedTable:
        """Move this handle to the latest version (other writers' commits become visible)."""
        if self._read_only:
            raise TableError("a checked-out version is read-only; open_table() for the latest")
        self._reload(self._target.open())
        return self

    def _reload(self, ds: lance.LanceDataset) -> None:
        meta = TableMeta.from_schema(ds.schema, self.uri)
        with self._state_lock:
            if int(ds.version) < int(self._ds.version):
                return
            self._ds, self.meta = ds, meta
        self._states.advance(ds, meta)

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
        state = None if meta.codec_file is None else guarded_read(
            ds, "loading the search state", lambda: self._states.get(ds, meta),
            self._target.storage_options)
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

    # ------------------------------------------------------------------------ reads
    def get(self, ids: Sequence[Any], *, with_vectors: bool = False) -> pa.Table:
        """Rows with the given ids, in the given order (unknown ids omitted).

        Args:
            ids: Ids to fetch.
            with_vectors: Add the decoded (or stored float) vectors as ``vector_column``.
        """
        with self._state_lock:
            ds, m = self._ds, self.meta
        ids = list(ids)
        cols = [m.id_column, *m.payload]
        if not ids or ds.count_rows() == 0:
            return pa.table({c: pa.array([], ds.schema.field(c).type) for c in cols})
        src = m.vector_column if m.mode == "alongside" else m.codes_column
        where = sql_in(m.id_column, ids)
        tbl = guarded_read(ds, "get", lambda: ds.to_table(
            columns=[*cols, src] if with_vectors else cols, filter=where),
            self._target.storage_options)
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
        ds = self._ds
        return guarded_read(ds, "to_arrow", ds.to_table, self._target.storage_options)

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
        return open_table(self.uri, version=version, memory=self.memory,
                          storage_options=self._target.storage_options)

    def has_vector_index(self) -> bool:
        """Whether the float column has a Lance vector index (alongside mode)."""
        return any(self.meta.vector_column in idx.get("fields", [])
                   for idx in list_indices(self._ds))
