"""The query builder of compressed tables (LanceDB idiom) and the search it runs.

``t.search(v).where("sql", prefilter=True).limit(k).nprobes(n).rerank(k2).to_arrow()``

Search runs on the table version's in-memory arrays (:class:`HotState`):

* ``compressed`` mode: 1-bit candidate codes are scanned (all rows, the probed IVF partitions,
  or the rows a prefilter kept) with a Hamming kernel; the best ``k'`` (``rerank``) candidates
  are re-scored with the table's codec (e.g. SQ8) and the top ``k`` kept. Small tables (or
  small filtered sets) are scored exhaustively with the codec.
* ``alongside`` mode with a Lance vector index: Lance's index gives ``k'`` candidates (with
  ``nprobes``, the prefilter applied inside Lance), the codes re-rank them from memory.

Only the final rows' payload is read from Lance (``take``).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import as_query, check_int, check_metric
from lance_spiral.codecs import normalize_rows
from lance_spiral.errors import InvalidInputError, InvalidParameterError
from lance_spiral.kernels.topk import topk
from lance_spiral.table.scan import hamming_candidates, hamming_candidates_rows, pack_signs
from lance_spiral.table.sql import lance_error
from lance_spiral.table.state import HotState
from lance_spiral.table.tune import DEFAULT_TARGET

if TYPE_CHECKING:
    from lance_spiral.table.table import CompressedTable

__all__ = ["FLAT_LIMIT", "Query", "search_codes", "single_thread"]

FLAT_LIMIT = 8192


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run numba kernels on the calling thread only (thread-local setting).

    One query's kernels are small: launching a parallel region costs more than it saves and, on a
    busy machine, waiting for worker threads adds tens of milliseconds of tail latency.
    Batches run queries in parallel on a thread pool instead (the kernels release the GIL).
    """
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _probe(state: HotState, qs: npt.NDArray[np.float32], nprobes: int, metric: str
           ) -> npt.NDArray[np.int64]:
    c = state.centroids
    if c is None:
        return np.zeros(0, dtype=np.int64)
    s = c @ qs if metric != "l2" else -((c - qs[None, :]) ** 2).sum(axis=1)
    p = min(nprobes, len(c))
    return np.argpartition(-s, p - 1)[:p].astype(np.int64)


def search_codes(
    state: HotState, q: npt.NDArray[np.float32], k: int, *, depth: int, nprobes: int | None,
    metric: str, pool: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Top-``k`` of one query over the hot state: ``(scores, positions)`` best first.

    Args:
        state: The table version's arrays.
        q: One query ``[dim]``.
        k: Results wanted.
        depth: Candidates re-scored by the codec (``k'``).
        nprobes: IVF partitions to scan (``None``: all).
        metric: Table metric.
        pool: Restrict to these row positions (a prefilter's result).
    """
    codec = state.codec
    size = state.n if pool is None else len(pool)
    if size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    prep = codec.prepare(q)
    if state.bits is None or state.centre is None or size <= max(FLAT_LIMIT, depth):
        codes = state.codes if pool is None else state.codes[pool]
        vals, idx = topk(codec.score(prep, codes), min(k, size))
        pos = idx[0] if pool is None else pool[idx[0]]
        return vals[0], pos
    qs = normalize_rows(q[None, :])[0] if metric == "cosine" else q
    qb = pack_signs(qs[None, :], state.centre).view(np.uint64)[0]
    nlist = 0 if state.centroids is None else len(state.centroids)
    if pool is None and nlist and nprobes is not None and nprobes < nlist:
        rows = state.partition_rows(_probe(state, qs, nprobes, metric))
        cand = hamming_candidates_rows(state.bits, rows, qb, depth)
    elif pool is None:
        cand = hamming_candidates(state.bits, qb, depth)
    else:
        cand = hamming_candidates_rows(state.bits, pool, qb, depth)
    if len(cand) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    vals, idx = topk(codec.score(prep, state.codes[cand]), min(k, len(cand)))
    return vals[0], cand[idx[0]]


class Query:
    """A vector query over a :class:`CompressedTable` (build with ``table.search(v)``)."""

    def __init__(self, table: CompressedTable, query: Any) -> None:
        self._t = table
        self._q = query
        self._k = 10
        self._where: str | None = None
        self._prefilter = True
        self._nprobes: int | None = None
        self._depth: int | None = None
        self._select: list[str] | None = None
        self._with_vectors = False
        self._target = DEFAULT_TARGET
        self._exact = 0

    def where(self, sql: str, prefilter: bool = True) -> Query:
        """Filter rows with a Lance SQL expression (before the vector search by default)."""
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInputError("where() needs a non-empty SQL string")
        self._where, self._prefilter = sql, bool(prefilter)
        return self

    def limit(self, k: int) -> Query:
        """Number of results per query."""
        self._k = check_int(k, "limit", lo=1)
        return self

    def nprobes(self, n: int) -> Query:
        """IVF partitions to scan (compressed mode with nlist > 0, or a Lance IVF index)."""
        self._nprobes = check_int(n, "nprobes", lo=1)
        return self

    def rerank(self, k2: int) -> Query:
        """Candidates re-scored with the table codec (``k'``); default picks it automatically."""
        self._depth = check_int(k2, "rerank", lo=1)
        return self

    def recall_target(self, target: float) -> Query:
        """Recall the automatic ``rerank`` depth and ``nprobes`` aim for (default 0.98)."""
        if not isinstance(target, (int, float)) or not 0.0 < float(target) <= 1.0:
            raise InvalidParameterError(f"recall_target must be in (0, 1], got {target!r}")
        self._target = float(target)
        return self

    def refine_factor(self, f: int) -> Query:
        """LanceDB spelling: re-rank ``f * limit`` candidates."""
        self._depth = check_int(f, "refine_factor", lo=1) * self._k
        return self

    def metric(self, m: str) -> Query:
        """Check the metric (codes are built for the table's metric; others are refused)."""
        m = check_metric(m)
        if m != self._t.metric:
            raise InvalidParameterError(
                f"table {self._t.uri} is encoded for metric {self._t.metric!r}, not {m!r}")
        return self

    def select(self, columns: list[str]) -> Query:
        """Payload columns to return (the id and ``_score`` always come back)."""
        if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
            raise InvalidInputError("select() takes a list of column names")
        allowed = {self._t.meta.id_column, self._t.meta.vector_column, *self._t.meta.payload}
        bad = [c for c in columns if c not in allowed]
        if bad:
            raise InvalidInputError(f"unknown columns {bad}; available: {sorted(allowed)}")
        self._select = list(columns)
        return self

    def exact_rerank(self, n: int) -> Query:
        """Alongside mode: re-score the codes' best ``n`` (>= limit) with the stored floats.

        The codes re-rank Lance's candidates; only these ``n`` float rows are then read (Lance's
        own refine reads every candidate's floats). ``0`` (default) keeps the codes' scores.
        """
        self._exact = check_int(n, "exact_rerank", lo=0)
        if self._exact and self._t.meta.mode != "alongside":
            raise InvalidParameterError("exact_rerank needs a float column (mode='alongside')")
        return self

    def with_vectors(self, flag: bool = True) -> Query:
        """Also return the (decoded) vectors as the vector column."""
        self._with_vectors = bool(flag)
        return self

    # ------------------------------------------------------------------ execution
    def to_arrow(self) -> pa.Table:
        """Run the query: payload + id + ``_score`` (+ ``_query_index`` for batches)."""
        t, m = self._t, self._t.meta
        cols = self._select or [m.id_column, *m.payload]
        want_vec = self._with_vectors or m.vector_column in cols
        cols = [c for c in cols if c not in (m.id_column, m.vector_column)]
        if self._q is None:
            return self._filter_only([m.id_column, *cols])
        batch = (isinstance(self._q, np.ndarray) and self._q.ndim == 2) or (
            isinstance(self._q, list) and len(self._q) > 0 and isinstance(
                self._q[0], (list, tuple, np.ndarray)))
        if m.dim is None or t.count_rows() == 0:
            q = as_query(self._q, name="query")
            return self._empty(cols, batch, want_vec)
        q = as_query(self._q, dim=m.dim, name="query")
        per_query = self._run(q)
        qi = np.concatenate([np.full(len(p), i, np.int64) for i, (_, p) in enumerate(per_query)])
        pos = np.concatenate([p for _, p in per_query]).astype(np.int64)
        scores = np.concatenate([s for s, _ in per_query]).astype(np.float32)
        if self._where is not None and not self._prefilter and len(pos):
            keep = self._postfilter(pos)
            qi, pos, scores = qi[keep], pos[keep], scores[keep]
        uniq, inv = np.unique(pos, return_inverse=True)
        fetched = t.dataset.take(uniq, columns=[m.id_column, *cols]) if len(uniq) else None
        out: dict[str, Any] = {}
        for c in [*cols, m.id_column]:
            typ = t.schema.field(c).type
            out[c] = fetched.column(c).take(pa.array(inv)) if fetched is not None else \
                pa.array([], typ)
        if want_vec:
            st = t.hot_state()
            vec = st.codec.decode(st.codes[pos]) if len(pos) else np.zeros((0, m.dim), np.float32)
            out[m.vector_column] = pa.FixedSizeListArray.from_arrays(
                pa.array(vec.reshape(-1), pa.float32()), m.dim)
        out["_score"] = pa.array(scores, pa.float32())
        if batch:
            out["_query_index"] = pa.array(qi, pa.int64())
        return pa.table(out)

    def to_pandas(self) -> Any:
        """The results as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def to_list(self) -> list[dict[str, Any]]:
        """The results as a list of dicts."""
        return self.to_arrow().to_pylist()

    def _empty(self, cols: list[str], batch: bool, want_vec: bool) -> pa.Table:
        m, schema = self._t.meta, self._t.schema
        out: dict[str, Any] = {}
        for c in [*cols, m.id_column]:
            out[c] = pa.array([], schema.field(c).type if c in schema.names else pa.string())
        if want_vec:
            out[m.vector_column] = pa.array([], pa.list_(pa.float32()))
        out["_score"] = pa.array([], pa.float32())
        if batch:
            out["_query_index"] = pa.array([], pa.int64())
        return pa.table(out)

    def _filter_only(self, cols: list[str]) -> pa.Table:
        try:
            return self._t.dataset.to_table(columns=cols, filter=self._where, limit=self._k)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc

    def _pool(self, state: HotState) -> npt.NDArray[np.int64] | None:
        if self._where is None or not self._prefilter:
            return None
        try:
            tbl = self._t.dataset.to_table(columns=[], with_row_id=True, filter=self._where)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc
        rid = tbl.column("_rowid").to_numpy().astype(np.uint64)
        return np.sort(state.positions_of(rid))

    def _postfilter(self, pos: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        state = self._t.hot_state()
        rid = state.rowids[pos]
        ids = ", ".join(str(int(r)) for r in np.unique(rid))
        try:
            tbl = self._t.dataset.to_table(columns=[], with_row_id=True,
                                           filter=f"({self._where}) AND _rowid IN ({ids})")
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc
        ok = tbl.column("_rowid").to_numpy().astype(np.uint64)
        return np.isin(rid, ok)

    def _run(self, q: npt.NDArray[np.float32]
             ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]:
        t, m = self._t, self._t.meta
        state = t.hot_state()
        k = self._k
        if "has_index" not in state.tuned:
            state.tuned["has_index"] = m.mode == "alongside" and t.has_vector_index()
        if state.tuned["has_index"]:
            with single_thread():
                return [self._lance_candidates(state, row, k) for row in q]
        pool = self._pool(state)
        depth = self._depth or self._auto_depth(state, k)
        nprobes = self._nprobes
        if nprobes is None and state.centroids is not None and pool is None:
            nprobes = self._auto_nprobes(state, k, depth)

        def one(row: npt.NDArray[np.float32]
                ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
            with single_thread():
                return search_codes(state, row, k, depth=depth, nprobes=nprobes,
                                    metric=m.metric, pool=pool)

        workers = min(len(q) // 4, os.cpu_count() or 1)
        if workers <= 1:
            return [one(row) for row in q]
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(one, q))

    def _auto_depth(self, state: HotState, k: int) -> int:
        from lance_spiral.table.tune import tune_depth

        key = ("depth", k, self._target)
        if key not in state.tuned:
            with single_thread():
                state.tuned[key] = tune_depth(state, k, metric=self._t.metric,
                                              target=self._target)
        depth: int = state.tuned[key]
        return depth

    def _auto_nprobes(self, state: HotState, k: int, depth: int) -> int:
        from lance_spiral.table.tune import tune_nprobes

        key = ("nprobes", k, depth, self._target)
        if key not in state.tuned:
            with single_thread():
                state.tuned[key] = tune_nprobes(state, k, depth, metric=self._t.metric,
                                                target=self._target)
        nprobes: int = state.tuned[key]
        return nprobes

    def _lance_candidates(self, state: HotState, q: npt.NDArray[np.float32], k: int
                          ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        m = self._t.meta
        depth = max(self._depth or 4 * k, k)
        nearest: dict[str, Any] = {"column": m.vector_column, "q": q, "k": depth,
                                   "nprobes": self._nprobes or 20}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tbl = self._t.dataset.to_table(columns=["_distance"], with_row_id=True,
                                               nearest=nearest, filter=self._where,
                                               prefilter=self._prefilter)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc
        cand = state.positions_of(tbl.column("_rowid").to_numpy().astype(np.uint64))
        if len(cand) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        codec = state.codec
        keep = min(max(k, self._exact), len(cand))
        vals, idx = topk(codec.score(codec.prepare(q), state.codes[cand]), keep)
        pos = cand[idx[0]]
        if self._exact == 0:
            return vals[0][:k], pos[:k]
        return self._exact_scores(q, pos, k)

    def _exact_scores(self, q: npt.NDArray[np.float32], pos: npt.NDArray[np.int64], k: int
                      ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        from lance_spiral.table.ingest import vectors_from_arrow

        m = self._t.meta
        order = np.argsort(pos)
        tbl = self._t.dataset.take(pos[order], columns=[m.vector_column])
        x = vectors_from_arrow(tbl.column(m.vector_column), m.vector_column)
        if m.metric == "l2":
            s = -((x - q[None, :]) ** 2).sum(axis=1)
        elif m.metric == "cosine":
            s = (normalize_rows(x) @ normalize_rows(q[None, :])[0])
        else:
            s = x @ q
        best = np.argsort(-s, kind="stable")[:k]
        return s[best].astype(np.float32), pos[order][best]
