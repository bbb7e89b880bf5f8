"""Compressed Lance tables: create, open, add, upsert, delete, update, get, versions, compact.

A :class:`CompressedTable` is a plain Lance dataset (any Lance or LanceDB client opens it; with
LanceDB, connect to the parent folder and open the table by its name without ``.lance``).
Vectors are stored as codes in an extension-typed column (see :mod:`lance_spiral.arrow`);
in ``compressed`` mode no float column is kept and 1-bit candidate codes plus an IVF partition
column serve the candidate stage; in ``alongside`` mode a float column with a Lance vector index
gives candidates and the codes re-rank them.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

import lance_spiral.arrow
from lance_spiral._validation import check_int, check_metric
from lance_spiral.arrow import codes_of
from lance_spiral.codecs import Codec, parse_spec
from lance_spiral.errors import (
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
    TableError,
)
from lance_spiral.table.ingest import RowBatch, iter_batches, vectors_from_arrow
from lance_spiral.table.meta import META_KEY, SideStore, TableMeta
from lance_spiral.table.sql import lance_error, sql_in, sql_literal
from lance_spiral.table.state import HotState, load_state
from lance_spiral.table.writer import write_rows

__all__ = ["MODES", "CompressedTable", "create_table", "open_table"]

MODES = ("compressed", "alongside")
_LANCE_METRIC = {"cosine": "cosine", "ip": "dot", "l2": "l2"}


def _exists(uri: str) -> bool:
    try:
        lance.dataset(uri)
    except (ValueError, OSError, FileNotFoundError):
        return False
    return True


def create_table(
    uri: str,
    data: Any = None,
    *,
    dim: int | None = None,
    vector_column: str = "vector",
    id_column: str = "id",
    codec: str = "sq:bits=8",
    mode: str = "compressed",
    metric: str = "cosine",
    exist_ok: bool = False,
    progress: bool = True,
    fit_rows: int = 1000,
    nlist: int = 0,
) -> CompressedTable:
    """Create a compressed table at ``uri`` (one Lance commit), optionally with rows.

    Args:
        uri: Dataset path or URI (``/path/docs.lance``, ``s3://bucket/docs.lance``).
        data: Rows: Arrow table/batch, pandas DataFrame, list of dicts, dict of columns, or an
            iterable of those. Each row has ``id_column``, ``vector_column`` and any payload.
        dim: Vector width, when known before the first rows.
        vector_column: Name of the vector in the data.
        id_column: Name of the id column (strings or integers).
        codec: Target codec spec (``"sq:bits=8"``, ``"sq:bits=4"``, ``"pq:m=48"``...).
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept too).
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        exist_ok: Return the existing table instead of raising when ``uri`` exists.
        progress: Show a progress bar while encoding.
        fit_rows: Rows needed before the target codec is fitted (small-table policy).
        nlist: IVF partitions for compressed mode (0: full scan of the 1-bit codes, best below
            about 500k rows).

    Returns:
        The table.

    Raises:
        TableError: ``uri`` exists and ``exist_ok`` is false.
        InvalidParameterError: Bad mode, metric, codec spec, dim, fit_rows or nlist.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterError(f"uri must be a non-empty string, got {uri!r}")
    if mode not in MODES:
        raise InvalidParameterError(f"mode must be one of {MODES}, got {mode!r}")
    metric = check_metric(metric)
    parse_spec(codec)
    if dim is not None:
        check_int(dim, "dim", lo=1)
    check_int(fit_rows, "fit_rows", lo=1)
    check_int(nlist, "nlist", lo=0)
    for name, val in (("vector_column", vector_column), ("id_column", id_column)):
        if not isinstance(val, str) or not val or val.startswith("_"):
            raise InvalidParameterError(f"{name} must be a non-empty name not starting with '_'")
    if _exists(uri):
        if exist_ok:
            return open_table(uri)
        raise TableError(f"a table already exists at {uri} (pass exist_ok=True to open it)")
    meta = TableMeta(mode=mode, metric=metric, dim=dim, codec_spec=codec, fit_rows=fit_rows,
                     vector_column=vector_column, id_column=id_column, nlist=nlist)
    side = SideStore(uri)
    ds = None
    if data is not None:
        batches = iter_batches(data, vector_column=vector_column, id_column=id_column)
        ds, meta = write_rows(uri, meta, side, batches, mode="create", progress=progress)
    if ds is None:
        empty = pa.table({id_column: pa.array([], pa.string())})
        ds = lance.write_dataset(empty.replace_schema_metadata({META_KEY: meta.to_json()}), uri)
    return CompressedTable(uri, ds)


def open_table(uri: str, *, version: int | None = None) -> CompressedTable:
    """Open an existing compressed table (latest version, or ``version`` read-only).

    Raises:
        NotFoundError: No table at ``uri`` (or no such version).
        FormatVersionError: The table was written by a newer lance-spiral format.
    """
    try:
        ds = lance.dataset(uri, version=version)
    except (ValueError, OSError) as exc:
        raise NotFoundError(f"no lance table at {uri}" + (
            f" with version {version}" if version is not None else "") + f": {exc}") from exc
    return CompressedTable(uri, ds, read_only=version is not None)


class CompressedTable:
    """A Lance table of compressed vectors (see module docs). Create with :func:`create_table`."""

    def __init__(self, uri: str, ds: lance.LanceDataset, *, read_only: bool = False) -> None:
        self.uri = uri
        self._ds = ds
        self.meta = TableMeta.from_schema(ds.schema, uri)
        self._side = SideStore(uri)
        self._read_only = read_only
        self._state: HotState | None = None
        if "://" not in uri or uri.startswith("file://"):
            lance_spiral.arrow.add_params_dir(self._side.root)

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
        self._ds = ds
        self.meta = TableMeta.from_schema(ds.schema, self.uri)
        if self._state is not None and self._state.version != ds.version:
            self._state = None

    def _writable(self) -> None:
        if self._read_only:
            raise TableError(f"table {self.uri} is checked out at version {self.version}:"
                             " read-only (restore() it or open_table() the latest)")
        self._reload(lance.dataset(self.uri))

    def hot_state(self) -> HotState:
        """The in-memory search arrays of this version (loaded on first use)."""
        if self._state is None or self._state.version != self._ds.version:
            self._state = load_state(self._ds, self.meta, self._side)
        return self._state

    # ----------------------------------------------------------------------- writes
    def add(self, data: Any, *, progress: bool = False) -> int:
        """Append rows in one atomic commit; returns the number of rows added.

        Raises:
            DimensionError: Vectors of another width than the table's.
            NonFiniteError, InvalidInputError, DTypeError: Bad rows.
            TableError: Read-only handle.
        """
        self._writable()
        batches = iter_batches(data, vector_column=self.meta.vector_column,
                               id_column=self.meta.id_column)
        n_before = self.count_rows()
        if n_before == 0 or self.meta.provisional:
            head: list[RowBatch] = []
            n_head = 0
            for rb in batches:
                head.append(rb)
                n_head += len(rb)
                if n_before + n_head >= self.meta.fit_rows:
                    break
            if not head:
                return 0
            if n_before == 0 or n_before + n_head >= self.meta.fit_rows:
                chain = itertools.chain(self._existing_rows(), head, batches)
                ds, _ = write_rows(self.uri, self.meta, self._side, chain, mode="overwrite",
                                   progress=progress)
                if ds is not None:
                    self._after_rewrite(ds)
                return self.count_rows() - n_before
            batches = iter(head)
        self._check_dim_of_batches_lazy()
        codec = self._side.get_codec(self.meta.codec_file or "")
        aux = self._side.get_arrays(self.meta.aux_file) if self.meta.aux_file else None
        ds, _ = write_rows(self.uri, self.meta, self._side, batches, mode="append",
                           state=(codec, aux), schema=self._ds.schema, progress=progress)
        if ds is not None:
            self._reload(ds)
        return self.count_rows() - n_before

    def _check_dim_of_batches_lazy(self) -> None:
        if self.meta.codec_file is None:
            raise TableError(f"table {self.uri} has no codec yet (empty table)")

    def _existing_rows(self) -> Iterator[RowBatch]:
        if self._ds.count_rows() == 0 or self.meta.codec_file is None:
            return
        m = self.meta
        cols = [m.id_column, *m.payload]
        src = m.vector_column if m.mode == "alongside" else m.codes_column
        for batch in self._ds.to_batches(columns=[*cols, src], batch_size=65536):
            tbl = pa.Table.from_batches([batch])
            if m.mode == "alongside":
                vecs = vectors_from_arrow(tbl.column(src), src)
            else:
                vecs = self._side.get_codec(m.codec_file or "").decode(codes_of(tbl.column(src)))
            yield RowBatch(ids=tbl.column(m.id_column).combine_chunks(), vectors=vecs,
                           payload=tbl.select(m.payload))

    def _after_rewrite(self, ds: lance.LanceDataset) -> None:
        old = self._list_scalar_indices()
        self._reload(ds)
        for col, kind in old:
            if col in self._ds.schema.names:
                self._ds.create_scalar_index(col, index_type=kind,  # type: ignore[arg-type]
                                             replace=True)
        if old:
            self._reload(lance.dataset(self.uri))

    def _list_scalar_indices(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for idx in self._indices():
            kind = str(idx.get("type", "")).upper()
            if kind in ("BTREE", "BITMAP", "LABEL_LIST", "INVERTED"):
                out.extend((f, kind) for f in idx.get("fields", []))
        return out

    def upsert(self, data: Any) -> dict[str, int]:
        """Merge-insert on the id column: update rows whose id exists, insert the others.

        Returns:
            ``{"inserted": n, "updated": n}``.
        """
        self._writable()
        m = self.meta
        if self.count_rows() == 0 or m.provisional:
            return self._upsert_small(data)
        codec = self._side.get_codec(m.codec_file or "")
        aux = self._side.get_arrays(m.aux_file) if m.aux_file else None
        from lance_spiral.table.writer import _conform, encode_batch

        parts = [_conform(encode_batch(m, codec, aux, rb), self._ds.schema)
                 for rb in iter_batches(data, vector_column=m.vector_column, id_column=m.id_column)]
        if not parts:
            return {"inserted": 0, "updated": 0}
        tbl = pa.concat_tables(parts)
        res = (self._ds.merge_insert(m.id_column).when_matched_update_all()
               .when_not_matched_insert_all().execute(tbl))
        self._reload(lance.dataset(self.uri))
        return {"inserted": int(res.get("num_inserted_rows", 0)),
                "updated": int(res.get("num_updated_rows", 0))}

    def _upsert_small(self, data: Any) -> dict[str, int]:
        """Upsert on an empty or provisional (small) table: one ``overwrite`` commit."""
        m = self.meta
        new = list(iter_batches(data, vector_column=m.vector_column, id_column=m.id_column))
        if not new:
            return {"inserted": 0, "updated": 0}
        new_ids = pa.chunked_array([rb.ids for rb in new]).combine_chunks()
        kept: list[RowBatch] = []
        matched = 0
        for rb in self._existing_rows():
            hit = pc.is_in(rb.ids, value_set=new_ids.cast(rb.ids.type))
            matched += int(pc.sum(hit).as_py() or 0)
            keep = pc.invert(hit)
            idx = np.flatnonzero(np.asarray(keep.to_numpy(zero_copy_only=False)))
            if len(idx):
                kept.append(RowBatch(ids=rb.ids.take(pa.array(idx)), vectors=rb.vectors[idx],
                                     payload=rb.payload.take(pa.array(idx))))
        ds, _ = write_rows(self.uri, self.meta, self._side, itertools.chain(kept, new),
                           mode="overwrite")
        if ds is not None:
            self._after_rewrite(ds)
        return {"inserted": len(new_ids) - matched, "updated": matched}

    def delete(self, where: str) -> int:
        """Delete rows matching the SQL filter ``where``; returns the number deleted."""
        if not isinstance(where, str) or not where.strip():
            raise InvalidInputError("delete() needs a non-empty SQL filter (use 'true' for all)")
        self._writable()
        before = self.count_rows()
        try:
            self._ds.delete(where)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, where) from exc
        self._reload(lance.dataset(self.uri))
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
        protected = {self.meta.id_column, self.meta.vector_column, *self.meta.internal_columns()}
        for col in values:
            if col in protected:
                raise InvalidInputError(f"column {col!r} cannot be updated (use upsert())")
            if col not in self._ds.schema.names:
                raise InvalidInputError(f"unknown column {col!r}; columns: {self.meta.payload}")
        updates = {c: sql_literal(v) for c, v in values.items()}
        try:
            res = self._ds.update(updates, where=where)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, where) from exc
        self._reload(lance.dataset(self.uri))
        return int(res.get("num_rows_updated", 0)) if isinstance(res, dict) else 0

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

    def search(self, query: Any = None) -> Any:
        """Start a vector query (LanceDB idiom); see :class:`lance_spiral.table.query.Query`."""
        from lance_spiral.table.query import Query

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
        return any(self.meta.vector_column in idx.get("fields", []) for idx in self._indices())

    def _indices(self) -> list[dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return [dict(i) for i in self._ds.list_indices()]  # type: ignore[call-overload]
