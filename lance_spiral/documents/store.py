"""Document store for framework adapters: a compressed table created at the first write.

The vector width is only known once the first texts are embedded, so the table is opened if it
exists and created by the first upsert otherwise (``create_table(exist_ok=True)`` then an upsert:
when several processes make the first write at once, one creates the table and every process's
rows land in it). Reads on a table that does not exist yet return nothing; a table that exists
but cannot be read (a newer format, corrupt metadata) raises the library's error, never ``[]``.

Opening an existing table with settings it was not made with (another codec, metric or mode,
other ``create_table`` options) raises :class:`~lance_spiral.errors.InvalidParameterError`
instead of silently keeping the table's own: re-encode it with :meth:`DocumentStore.requantize`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import check_int, check_metric
from lance_spiral.arrow import codes_of
from lance_spiral.documents import fulltext
from lance_spiral.documents.freshness import Freshness
from lance_spiral.documents.location import drop_table, is_remote, table_exists
from lance_spiral.documents.rows import decoded_row, table_rows
from lance_spiral.documents.settings import check_create_kwargs, check_table, same_codec
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError, TableError
from lance_spiral.table import CompressedTable, create_table, open_table
from lance_spiral.table.ingest import vectors_from_arrow
from lance_spiral.table.snapshot import Snapshot
from lance_spiral.table.sql import lance_error, sql_in

__all__ = ["DEFAULT_CODEC", "DocumentStore"]

ID, TEXT, METADATA, VECTOR, SCORE = "id", "text", "metadata", "vector", "_score"
DEFAULT_CODEC, DEFAULT_METRIC, DEFAULT_MODE = "sq:bits=8", "cosine", "compressed"
class DocumentStore:
    """A compressed table at ``uri`` with columns id / text / metadata (JSON) / vector.

    Args:
        uri: Table location (a path or ``s3://...``).
        codec: Codec spec for a new table; for an existing one, None (use the table's) or the
            table's own spec (anything else raises).
        metric: ``cosine`` / ``ip`` / ``l2`` (None: the table's, or cosine for a new table).
        mode: ``"compressed"`` or ``"alongside"`` (None: the table's, or compressed).
        create_kwargs: More ``create_table`` options (``fit_rows``, ``nlist``); checked now.
        storage_options: Object-store options passed to Lance (credentials, endpoint).
        memory: ``"ram"`` (every code resident) or ``"disk"`` (only the candidate codes
            resident; re-rank codes read per query): see ``lance_spiral.table.open_table``.
        cache_dir: ``"disk"`` memory only: a local folder caching the code column (for s3://).
        read_consistency_interval: Seconds (or a ``timedelta``) after which a read first looks
            for versions other processes committed (LanceDB's option of that name); ``0``:
            before every read; ``None``: never (only this store's own writes move it).

    Raises:
        InvalidParameterError: Settings that contradict an existing table, or unknown options.
    """

    def __init__(
        self,
        uri: str,
        *,
        codec: str | None = None,
        metric: str | None = None,
        mode: str | None = None,
        create_kwargs: Mapping[str, Any] | None = None,
        storage_options: Mapping[str, str] | None = None,
        memory: str = "ram",
        cache_dir: str | os.PathLike[str] | None = None,
        read_consistency_interval: float | timedelta | None = 1.0,
    ) -> None:
        self._fresh = Freshness(read_consistency_interval)
        if memory not in ("ram", "disk"):
            raise InvalidParameterError(f"memory must be 'ram' or 'disk', got {memory!r}")
        if cache_dir is not None and memory != "disk":
            raise InvalidParameterError("cache_dir is used with memory='disk' only")
        self.uri = uri
        self._memory = memory
        self._cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self._codec = codec
        self._metric = None if metric is None else check_metric(metric)
        if codec is not None:
            same_codec(codec, codec, self._metric or DEFAULT_METRIC)  # a bad spec raises now
        if mode is not None and mode not in ("compressed", "alongside"):
            raise InvalidParameterError(f"mode must be 'compressed' or 'alongside', got {mode!r}")
        self._mode = mode
        self._create_kwargs = check_create_kwargs(create_kwargs)
        self._storage = dict(storage_options) if storage_options else None
        self._lock = threading.RLock()
        self._table: CompressedTable | None = self._open()

    # ------------------------------------------------------------------ table handle
    def _so(self) -> dict[str, Any]:
        return {} if self._storage is None else {"storage_options": self._storage}

    def _reading(self) -> dict[str, Any]:
        """``open_table`` options: storage plus the memory mode."""
        return {**self._so(), "memory": self._memory, "cache_dir": self._cache_dir}

    def _open(self) -> CompressedTable | None:
        if not table_exists(self.uri, self._storage):
            return None
        try:
            table = open_table(self.uri, **self._reading())
        except NotFoundError:
            if is_remote(self.uri):
                return None  # raced with a drop; nothing there
            raise
        self._check(table)
        return table

    def _check(self, table: CompressedTable) -> None:
        check_table(table, self.uri, codec=self._codec, metric=self._metric, mode=self._mode,
                    create_kwargs=self._create_kwargs)

    def _current(self) -> CompressedTable | None:
        """The table, opened if another process created it since.

        Once the read consistency interval has passed it is moved to the latest version first
        (unless a write is in progress: then as that write left it).
        """
        if self._table is None:
            with self._lock:
                if self._table is None:
                    self._table = self._open()
                    self._fresh.mark()
            return self._table
        if self._fresh.due() and self._lock.acquire(blocking=False):
            try:
                self._table.refresh()
            except NotFoundError:
                self._table = None  # dropped by another process
            finally:
                self._fresh.mark()
                self._lock.release()
        return self._table

    @property
    def table(self) -> CompressedTable | None:
        """The underlying table (None until the first write)."""
        return self._current()

    @property
    def codec_spec(self) -> str:
        """The codec spec of the table (or of the table the first write will create)."""
        t = self._current()
        return t.meta.codec_spec if t is not None else (self._codec or DEFAULT_CODEC)

    @property
    def metric(self) -> str:
        """The metric of the table (or of the table the first write will create)."""
        t = self._current()
        return t.meta.metric if t is not None else (self._metric or DEFAULT_METRIC)

    def _snapshot(self) -> Snapshot | None:
        t = self._current()
        return None if t is None else t.snapshot()

    # ------------------------------------------------------------------ writes
    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata_json: Sequence[str],
        vectors: npt.NDArray[np.float32],
        extra: dict[str, pa.Array] | None = None,
    ) -> None:
        """Insert or replace rows by id (the last of duplicate ids in one call wins)."""
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise InvalidInputError(
                f"expected {len(ids)} embeddings, got an array of shape {vectors.shape}")
        if not len(ids):
            return
        last = {i: n for n, i in enumerate(ids)}
        keep = sorted(last.values())
        cols: dict[str, pa.Array] = {
            ID: pa.array([ids[n] for n in keep], pa.string()),
            TEXT: pa.array([texts[n] for n in keep], pa.string()),
            METADATA: pa.array([metadata_json[n] for n in keep], pa.json_(pa.utf8())),
            VECTOR: pa.FixedSizeListArray.from_arrays(
                pa.array(vectors[keep].reshape(-1), pa.float32()), vectors.shape[1]),
        }
        for name, arr in (extra or {}).items():
            cols[name] = arr.take(pa.array(keep))
        data = pa.table(cols)
        with self._lock:
            table = self._current()
            if table is None:
                table = create_table(
                    self.uri, None, dim=int(vectors.shape[1]),
                    codec=self._codec or DEFAULT_CODEC, metric=self._metric or DEFAULT_METRIC,
                    mode=self._mode or DEFAULT_MODE, exist_ok=True, progress=False,
                    **self._create_kwargs, **self._so())
                self._check(table)
                if self._memory != "ram":
                    table = open_table(self.uri, **self._reading())
                self._table = table
            table.upsert(data)

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Delete rows by id (unknown ids are ignored); returns the number deleted."""
        table = self._current()
        if table is None or not ids:
            return 0
        with self._lock:
            return int(table.delete_ids(list(ids)))

    def delete_where(self, sql: str) -> int:
        """Delete the rows matching a trusted SQL predicate (compiled by the adapters)."""
        table = self._current()
        if table is None:
            return 0
        with self._lock:
            return int(table.delete(sql=sql))

    def drop(self) -> None:
        """Delete the whole table (every version and side file); the next write recreates it."""
        with self._lock:
            drop_table(self.uri, self._storage)
            self._table = None

    def requantize(self, codec: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Re-encode the stored vectors with another codec (one commit); see the table's method.

        Raises:
            TableError: There is no table yet (the first write creates it with ``codec``).
        """
        table = self._current()
        if table is None:
            raise TableError(f"no table at {self.uri} yet: pass codec= to the store instead")
        with self._lock:
            report: dict[str, Any] = table.requantize(codec, **kwargs)
            self._codec = None
            return report

    def ensure_text_index(self) -> None:
        """Build Lance's full-text (INVERTED) index on the text column if it has none."""
        table = self._current()
        if table is None:
            return
        with self._lock:
            if not fulltext.has_text_index(table.snapshot().dataset, TEXT):
                table.create_scalar_index(TEXT, index_type="INVERTED")

    # ------------------------------------------------------------------ reads
    def _vectors(self, snap: Snapshot, col: pa.ChunkedArray) -> npt.NDArray[np.float32]:
        m = snap.meta
        if m.mode == "alongside":
            return vectors_from_arrow(col, m.vector_column)
        if m.codec_file is None or len(col) == 0:
            return np.zeros((0, m.dim or 0), dtype=np.float32)
        return snap.side.get_codec(m.codec_file).decode(codes_of(col))

    def _columns(self, snap: Snapshot) -> list[str]:
        return [ID, *snap.meta.payload]

    def get(self, ids: Sequence[str], *, with_vectors: bool = False
            ) -> tuple[list[dict[str, Any]], npt.NDArray[np.float32] | None]:
        """Rows for these ids in the given order (missing ids skipped), and their vectors."""
        ids = list(ids)
        snap = self._snapshot()
        if snap is None or not ids or not snap.meta.payload:
            return [], (np.zeros((0, 0), np.float32) if with_vectors else None)
        m = snap.meta
        src = m.vector_column if m.mode == "alongside" else m.codes_column
        tbl = snap.dataset.to_table(columns=[*self._columns(snap), src] if with_vectors
                                    else self._columns(snap), filter=_in_sql(ids))
        pos = {v: i for i, v in enumerate(tbl.column(ID).to_pylist())}
        tbl = tbl.take(pa.array([pos[i] for i in dict.fromkeys(ids) if i in pos], pa.int64()))
        vecs = self._vectors(snap, tbl.column(src)) if with_vectors else None
        return table_rows(tbl.drop_columns([src]) if with_vectors else tbl), vecs

    def scan(self, sql: str | None = None, *, limit: int | None = None, offset: int = 0,
             with_vectors: bool = False
             ) -> tuple[list[dict[str, Any]], npt.NDArray[np.float32] | None]:
        """Rows matching a trusted SQL predicate (all for None), in storage order, paged."""
        if limit is not None:
            check_int(limit, "limit", lo=0)
        check_int(offset, "offset", lo=0)
        snap = self._snapshot()
        if snap is None or not snap.meta.payload or limit == 0:
            return [], (np.zeros((0, 0), np.float32) if with_vectors else None)
        m = snap.meta
        src = m.vector_column if m.mode == "alongside" else m.codes_column
        cols = self._columns(snap) + ([src] if with_vectors else [])
        try:
            tbl = snap.dataset.to_table(columns=cols, filter=sql, limit=limit,
                                        offset=offset or None)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, sql) from exc
        vecs = self._vectors(snap, tbl.column(src)) if with_vectors else None
        return table_rows(tbl.drop_columns([src]) if with_vectors else tbl), vecs

    def count(self, sql: str | None = None) -> int:
        """Number of rows (matching a trusted SQL predicate)."""
        snap = self._snapshot()
        if snap is None:
            return 0
        try:
            return int(snap.dataset.count_rows(filter=sql))
        except (ValueError, OSError) as exc:
            raise lance_error(exc, sql) from exc

    def search(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        sql: str | None = None,
        *,
        with_vectors: bool = False,
        nprobes: int | None = None,
        rerank: int | None = None,
    ) -> tuple[list[dict[str, Any]], npt.NDArray[np.float32] | None]:
        """Top-k rows (best first, with ``_score``) and optionally their decoded vectors.

        Args:
            vector: The query vector.
            k: Number of rows.
            sql: Trusted SQL prefilter.
            with_vectors: Also return the rows' (decoded) vectors.
            nprobes: IVF partitions to scan (tables made with ``nlist`` > 0).
            rerank: Candidates re-scored with the table codec (re-rank depth ``k'``).
        """
        table = self._current()
        if table is None or table.meta.dim is None:
            return [], None
        q = table.search(vector).limit(k).with_vectors(with_vectors)
        if sql is not None:
            q = q.where(sql=sql, prefilter=True)
        if nprobes is not None:
            q = q.nprobes(nprobes)
        if rerank is not None:
            q = q.rerank(rerank)
        result = q.to_arrow()
        vecs = None
        if with_vectors:
            col = result.column(VECTOR).combine_chunks()
            vecs = np.asarray(col.flatten(), dtype=np.float32).reshape(len(result), -1)
            result = result.drop_columns([VECTOR])
        return table_rows(result), vecs

    def text_search(self, query: str, k: int, sql: str | None = None) -> list[dict[str, Any]]:
        """Top-k rows by BM25 on the text column (``_score``), building its index if needed."""
        fulltext.check_query_text(query)
        check_int(k, "k", lo=1)
        snap = self._snapshot()
        if snap is None or not snap.meta.payload:
            return []
        if not fulltext.has_text_index(snap.dataset, TEXT):
            self.ensure_text_index()
            snap = self._snapshot()
            if snap is None:
                return []
        rows = fulltext.text_search(snap.dataset, query, k, columns=self._columns(snap),
                                    where=sql)
        return [decoded_row(r) for r in rows]

    def hybrid_search(self, vector: npt.NDArray[np.float32], query: str, k: int,
                      sql: str | None = None, *, fetch_k: int | None = None,
                      alpha: float | None = None, nprobes: int | None = None,
                      rerank: int | None = None) -> list[dict[str, Any]]:
        """Vector and full-text search fused (RRF, or linear with ``alpha``); see :mod:`fulltext`.

        Args:
            vector: The query vector.
            query: The query text for BM25.
            k: Rows returned.
            sql: Trusted SQL prefilter applied to both searches.
            fetch_k: Rows taken from each search before fusing (default ``max(4k, 20)``).
            alpha: Weight of the vector scores in a linear fusion (None: RRF).
            nprobes: As in :meth:`search`.
            rerank: As in :meth:`search`.
        """
        check_int(k, "k", lo=1)
        fetch = check_int(fetch_k, "fetch_k", lo=1) if fetch_k is not None else max(4 * k, 20)
        text_rows = self.text_search(query, fetch, sql)
        vec_rows, _ = self.search(vector, fetch, sql, nprobes=nprobes, rerank=rerank)
        return fulltext.fuse(vec_rows, text_rows, k, alpha=alpha)


def _in_sql(ids: Sequence[str]) -> str:
    return sql_in(ID, list(dict.fromkeys(ids)))
