"""The query builder of compressed tables (LanceDB idiom) and the search it runs.

``t.search(v).where({"year": {"$gte": 2000}}).limit(k).nprobes(n).rerank(k2).to_arrow()``

A query runs on one :class:`~lance_spiral.table.snapshot.Snapshot` of the table, taken once
when it executes: the version's hot state gives row positions and scores
(:mod:`lance_spiral.table.search`), the positions map to that version's Lance row ids, and only
the final rows' payload is read, by row id, from the same version's dataset. In ``alongside``
mode with a Lance vector index, Lance's index gives ``k'`` candidates (with ``nprobes``, the
prefilter applied inside Lance) and the codes re-rank them (:mod:`lance_spiral.table.candidates`).
See ``docs/search.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import as_query, check_int, check_metric
from lance_spiral.errors import CorruptDataError, InvalidInputError, InvalidParameterError
from lance_spiral.kernels.threads import numba_threads, query_threads, single_thread
from lance_spiral.table.candidates import lance_candidates
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.search import search_codes
from lance_spiral.table.snapshot import Snapshot
from lance_spiral.table.sql import filter_sql, lance_error
from lance_spiral.table.state import HotState
from lance_spiral.table.tune import DEFAULT_TARGET, Settings, forget_probes, tune_search

__all__ = ["Query", "SnapshotSource"]

Hits = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]


class SnapshotSource(Protocol):
    """What a query needs from a table: its metadata (to check arguments) and snapshots."""

    uri: str
    meta: TableMeta

    @property
    def schema(self) -> pa.Schema:
        """The table's Arrow schema (to compile dict filters)."""
        ...

    def snapshot(self) -> Snapshot:
        """The table's current version, taken at once."""
        ...


class Query:
    """A vector query over a :class:`CompressedTable` (build with ``table.search(v)``)."""

    def __init__(self, table: SnapshotSource, query: Any) -> None:
        self._t = table
        self._q = query
        self._k = 10
        self._where: str | None = None
        self._prefilter = True
        self._nprobes: int | None = None
        self._depth: int | None = None
        self._candidates: int | None = None
        self._select: list[str] | None = None
        self._with_vectors = False
        self._target = DEFAULT_TARGET
        self._exact = 0

    def where(self, filter: Mapping[str, Any] | None = None, prefilter: bool = True, *,
              sql: str | None = None) -> Query:
        """Filter rows, before the vector search (``prefilter=True``) or after it.

        Args:
            filter: A dict filter (``{"year": {"$gte": 2000}}``; the language is in
                :mod:`lance_spiral.table.sql.filters`): safe for untrusted input.
            prefilter: Filter first (exact top-k among matching rows) or the top-k afterwards
                (may return fewer than ``limit`` rows).
            sql: A raw Lance SQL predicate instead: TRUSTED input only (never a user's or a
                model's text).

        Raises:
            InvalidInputError: A string given as ``filter`` (use ``sql=``), both or neither
                given, an unknown column or operator, a value of the wrong type.
        """
        m = self._t.meta
        pred = filter_sql(filter, sql, self._t.schema,
                          protected=[*m.internal_columns(), m.vector_column], what="where()")
        if pred is None:
            raise InvalidInputError("where() needs a dict filter or sql=")
        self._where, self._prefilter = pred, bool(prefilter)
        return self

    def limit(self, k: int) -> Query:
        """Number of results per query (fewer come back when fewer rows match)."""
        self._k = check_int(k, "limit", lo=1)
        return self

    def nprobes(self, n: int) -> Query:
        """IVF partitions to scan (compressed mode with nlist > 0, or a Lance IVF index)."""
        self._nprobes = check_int(n, "nprobes", lo=1)
        return self

    def rerank(self, k2: int) -> Query:
        """Candidates re-scored with the table codec (``k'``); default picks it automatically.

        In the ``disk`` memory mode these are the codes read from the table per query.
        """
        self._depth = check_int(k2, "rerank", lo=1)
        return self

    def candidates(self, n: int) -> Query:
        """1-bit (Hamming) candidates, narrowed by sign-code score to the ``rerank`` ones.

        Automatic when not given (and, in RAM mode, when ``rerank`` is not given either: an
        explicit ``rerank`` alone re-scores that many Hamming candidates without narrowing).
        """
        self._candidates = check_int(n, "candidates", lo=1)
        return self

    def recall_target(self, target: float) -> Query:
        """Recall the automatic ``rerank`` depth and ``nprobes`` aim for (default 0.98)."""
        if isinstance(target, bool) or not isinstance(target, (int, float)) \
                or not 0.0 < float(target) <= 1.0:
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
        if m != self._t.meta.metric:
            raise InvalidParameterError(
                f"table {self._t.uri} is encoded for metric {self._t.meta.metric!r}, not {m!r}")
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
        snap = self._t.snapshot()
        m = snap.meta
        cols = self._select or [m.id_column, *m.payload]
        want_vec = self._with_vectors or m.vector_column in cols
        cols = [c for c in cols if c not in (m.id_column, m.vector_column)]
        if self._q is None:
            return self._filter_only(snap, [m.id_column, *cols])
        batch = (isinstance(self._q, np.ndarray) and self._q.ndim == 2) or (
            isinstance(self._q, list) and len(self._q) > 0 and isinstance(
                self._q[0], (list, tuple, np.ndarray)))
        state = snap.state
        if m.dim is None or state is None or state.n_live == 0:
            as_query(self._q, dim=m.dim, name="query")
            return self._empty(snap, cols, batch, want_vec)
        q = as_query(self._q, dim=m.dim, name="query")
        wanted = [m.id_column, *cols]
        runs = self._run(snap, state, q, _cheap(snap, state, wanted))
        qi = np.concatenate([np.full(len(r[1]), i, np.int64) for i, r in enumerate(runs)])
        pos = np.concatenate([r[1] for r in runs]).astype(np.int64)
        scores = np.concatenate([r[0] for r in runs]).astype(np.float32)
        pre = [r[2] for r in runs]
        keep = None
        if self._where is not None and not self._prefilter and len(pos):
            keep = self._postfilter(snap, state, pos)
            qi, pos, scores = qi[keep], pos[keep], scores[keep]
        if all(p is not None for p in pre) and pre:
            fetched = pa.concat_tables([p for p in pre if p is not None])
            if keep is not None:
                fetched = fetched.filter(pa.array(keep))
            idx = pa.array(np.arange(len(pos), dtype=np.int64))
        else:
            uniq, inv = np.unique(pos, return_inverse=True)
            fetched = _take_payload(snap, state, uniq, wanted)
            idx = pa.array(inv.astype(np.int64))
        out: dict[str, Any] = {}
        for c in [*cols, m.id_column]:
            out[c] = fetched.column(c).take(idx)
        if want_vec:
            vec = state.codec.decode(state.fetch_codes(pos)) if len(pos) else \
                np.zeros((0, m.dim), np.float32)
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

    def _empty(self, snap: Snapshot, cols: list[str], batch: bool, want_vec: bool) -> pa.Table:
        m, schema = snap.meta, snap.dataset.schema
        out: dict[str, Any] = {}
        for c in [*cols, m.id_column]:
            out[c] = pa.array([], schema.field(c).type if c in schema.names else pa.string())
        if want_vec:
            out[m.vector_column] = pa.array([], pa.list_(pa.float32()))
        out["_score"] = pa.array([], pa.float32())
        if batch:
            out["_query_index"] = pa.array([], pa.int64())
        return pa.table(out)

    def _filter_only(self, snap: Snapshot, cols: list[str]) -> pa.Table:
        try:
            return snap.dataset.to_table(columns=cols, filter=self._where, limit=self._k)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc

    def _pool(self, snap: Snapshot, state: HotState) -> npt.NDArray[np.int64] | None:
        if self._where is None or not self._prefilter:
            return None
        try:
            tbl = snap.dataset.to_table(columns=[], with_row_address=True, filter=self._where)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc
        addr = tbl.column("_rowaddr").to_numpy().astype(np.uint64)
        return np.sort(state.positions_of_addresses(addr))

    def _postfilter(self, snap: Snapshot, state: HotState, pos: npt.NDArray[np.int64]
                    ) -> npt.NDArray[np.bool_]:
        rid = state.rowids_at(pos)
        ids = ", ".join(str(int(r)) for r in np.unique(rid))
        pred = f"({self._where}) AND _rowid IN ({ids})"
        try:
            tbl = snap.dataset.to_table(columns=[], with_row_id=True, filter=pred)
        except (ValueError, OSError) as exc:
            raise lance_error(exc, self._where) from exc
        ok = tbl.column("_rowid").to_numpy().astype(np.uint64)
        return np.isin(rid, ok)

    def _run(self, snap: Snapshot, state: HotState, q: npt.NDArray[np.float32],
             payload: list[str] | None) -> list[tuple[Any, Any, pa.Table | None]]:
        """Per query: scores, positions, and the payload rows when read with the codes."""
        m = snap.meta
        k = self._k
        if snap.has_vector_index():
            with single_thread():
                return [(*lance_candidates(snap, state, row, k, depth=self._depth,
                                           nprobes=self._nprobes, where=self._where,
                                           prefilter=self._prefilter, exact=self._exact), None)
                        for row in q]
        pool = self._pool(snap, state)
        disk = state.codes is None
        ivf = state.centroids is not None and pool is None
        narrowing = disk or self._depth is None or self._candidates is not None
        if narrowing:
            # Hamming candidates narrowed by their sign codes' score to the re-ranked ones.
            fixed = (self._nprobes, self._candidates, self._depth)
        else:
            fixed = (self._nprobes, self._depth, self._depth)
        nprobes, depth, depth2 = fixed
        if depth is None or depth2 is None or (nprobes is None and ivf):
            auto = self._auto(state, k, m.metric, fixed)
            depth = depth or auto.depth
            depth2 = depth2 or auto.depth2
            nprobes = nprobes if nprobes is not None or not ivf else auto.nprobes
        assert depth is not None and depth2 is not None
        depth = max(depth, depth2)
        narrow: int | None = depth2 if narrowing else None
        forget_probes(state)
        workers = min(len(q) // 4, query_threads())
        threads = 1 if workers > 1 else query_threads()

        def one(row: npt.NDArray[np.float32]) -> tuple[Any, Any, pa.Table | None]:
            got: list[pa.Table] = []
            with numba_threads(threads):
                s, p = search_codes(state, row, k, depth=depth, nprobes=nprobes,
                                    metric=m.metric, pool=pool, depth2=narrow,
                                    payload=payload if disk else None, out=got)
            return s, p, got[0] if got else None

        if workers <= 1:
            return [one(row) for row in q]
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(one, q))

    def _auto(self, state: HotState, k: int, metric: str,
              fixed: tuple[int | None, int | None, int | None]) -> Settings:
        """Tuned settings for this query shape (measured once per state, see ``tune``)."""
        key = ("auto", k, self._target, *fixed)
        if key not in state.tuned:
            with numba_threads(query_threads()):
                state.tuned[key] = tune_search(state, k, metric=metric, target=self._target,
                                               nprobes=fixed[0], depth=fixed[1],
                                               depth2=fixed[2])
        got: Settings = state.tuned[key]
        return got


def _cheap(snap: Snapshot, state: HotState, columns: list[str]) -> list[str] | None:
    """``columns`` if the disk mode should read them with the codes, in one ``take``.

    That is when the codes come from Lance (no disk cache) and the columns are cheap to read
    for every re-rank candidate: the id, and fixed-width payload. Decided once per state.
    """
    if state.codes is not None or state.disk_cache is not None:
        return None
    key = ("cheap", *columns)
    if key not in state.cache:
        schema = snap.dataset.schema
        ok = all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                 or pa.types.is_temporal(t)
                 for t in (schema.field(c).type for c in columns[1:]))
        state.cache[key] = ok
    return columns if state.cache[key] else None


def _take_payload(snap: Snapshot, state: HotState, uniq: npt.NDArray[np.int64],
                  cols: list[str]) -> pa.Table:
    """Payload rows of the given positions, fetched by row id from the snapshot's version.

    Only the ids, in RAM mode: from the state's resident copy, without reading the table.
    """
    if cols == [snap.meta.id_column] and state.ids is not None:
        kind = snap.dataset.schema.field(cols[0]).type
        return pa.table({cols[0]: pa.array(state.ids[uniq], type=kind)})
    if len(uniq) == 0:
        schema = snap.dataset.schema
        return pa.table({c: pa.array([], schema.field(c).type) for c in cols})
    rid = state.rowids_at(uniq)
    tbl = snap.dataset._take_rows(pa.array(rid, pa.uint64()), columns=[*cols, "_rowid"])
    got = tbl.column("_rowid").to_numpy()
    if len(got) != len(rid) or not np.array_equal(got.astype(np.uint64), rid):
        raise CorruptDataError(
            f"table {snap.uri} version {snap.version}: rows fetched by id do not match the"
            f" version's search state ({len(got)} of {len(rid)} rows)")
    return tbl
