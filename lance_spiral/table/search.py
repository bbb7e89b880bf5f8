"""Top-k search of one query over a table version's hot state.

``compressed`` tables: the 1-bit candidate codes are scanned (all rows, the probed IVF partitions,
or the rows a prefilter kept) with a Hamming kernel; the best ``k'`` candidates are re-scored with
the table's codec (e.g. SQ8) and the top ``k`` kept. Small tables (or small filtered sets) are
scored exhaustively with the codec. In the ``disk`` memory mode the codes are not resident: the
Hamming candidates are narrowed further by scoring their sign bits against the float query
(:func:`~lance_spiral.kernels.hamming.sign_dot_rows`), and only the best ``depth2`` codes are read
from the table. Rows not in the version (deleted) are never returned; fewer than ``k`` rows come
back when fewer exist.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.dense import dot_rows, neg_sq_dist_rows
from lance_spiral.kernels.hamming import (
    hamming_candidates_ranges,
    hamming_candidates_rows,
    pack_signs,
    sign_dot_rows,
    sign_lut,
)
from lance_spiral.kernels.topk import topk
from lance_spiral.table.state import HotState

__all__ = ["FLAT_LIMIT", "PAYLOAD_WITH_CODES", "candidate_slots", "narrow_by_signs",
           "probe_partitions", "search_codes"]

FLAT_LIMIT = 8192
# Disk mode: read the payload in the codes' ``take`` (one request, e.g. to object storage) only
# for this few candidates; beyond, every extra column read per candidate costs more than a
# second ``take`` of the ``k`` results (local 1 M rows: 256 codes 2.9 ms, with the id 4.7 ms;
# the id of 10 rows 0.6 ms).
PAYLOAD_WITH_CODES = 32
Hits = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]


def _empty() -> Hits:
    return np.zeros(0, np.float32), np.zeros(0, np.int64)


def probe_partitions(state: HotState, qs: npt.NDArray[np.float32], nprobes: int, metric: str
                     ) -> npt.NDArray[np.int64]:
    """The ``nprobes`` IVF partitions nearest to the (normalised) query ``qs``."""
    c = state.centroids
    if c is None:
        return np.zeros(0, dtype=np.int64)
    s = dot_rows(c, qs) if metric != "l2" else neg_sq_dist_rows(c, qs)
    p = min(nprobes, len(c))
    return np.argpartition(-s, p - 1)[:p].astype(np.int64)


def candidate_slots(state: HotState, qb: npt.NDArray[np.uint64], depth: int,
                    parts: npt.NDArray[np.int64] | None = None,
                    pool: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
    """Slots of the ``depth`` live rows nearest to the query's sign code ``qb`` (Hamming).

    Over the IVF partitions ``parts`` (contiguous slot ranges), the positions ``pool``, or
    every row.
    """
    assert state.bits is not None
    if pool is not None:
        slots = state.slots_of(pool)
        return hamming_candidates_rows(state.bits, slots, qb, depth)
    starts, lengths = state.all_ranges() if parts is None else state.partition_ranges(parts)
    return hamming_candidates_ranges(state.bits, starts, lengths, qb, depth, state.alive,
                                     state.part_order, state.indexed)


def narrow_by_signs(state: HotState, qs: npt.NDArray[np.float32],
                    slots: npt.NDArray[np.int64], depth2: int) -> npt.NDArray[np.int64]:
    """The ``depth2`` candidate slots whose sign codes score best against the float query."""
    if len(slots) <= depth2 or state.bits is None:
        return slots
    s = sign_dot_rows(state.bits, slots, sign_lut(qs, state.bits.shape[1]))
    return slots[np.argpartition(-s, depth2 - 1)[:depth2]]


def _rerank(state: HotState, prep: object, cand: npt.NDArray[np.int64], k: int,
            payload: list[str] | None = None, out: list[pa.Table] | None = None) -> Hits:
    if len(cand) == 0:
        return _empty()
    codec = state.codec
    if payload is not None and out is not None and state.codes is None \
            and state.disk_cache is None and len(cand) <= PAYLOAD_WITH_CODES:
        codes, rows = state.take_with(cand, payload)
        vals, idx = topk(codec.score(prep, codes), min(k, len(cand)))
        out.append(rows.take(pa.array(idx[0])))
        return vals[0], cand[idx[0]]
    vals, idx = topk(codec.score(prep, state.fetch_codes(cand)), min(k, len(cand)))
    return vals[0], cand[idx[0]]


def _exhaustive(state: HotState, prep: object, k: int,
                pool: npt.NDArray[np.int64] | None) -> Hits:
    """Score every row (or the pool) with the codec; streamed from the table in disk mode."""
    codec = state.codec
    if pool is not None:
        return _rerank(state, prep, pool, k)
    if state.codes is not None:
        if state.alive is None:
            vals, idx = topk(codec.score(prep, state.codes), min(k, state.n))
            return vals[0], idx[0]
        return _rerank(state, prep, state.live_positions(), k)
    best_v: list[npt.NDArray[np.float32]] = []
    best_p: list[npt.NDArray[np.int64]] = []
    for pos, codes in state.iter_codes():
        if len(pos) == 0:
            continue
        if state.alive is not None:
            keep = state.alive[pos]
            pos, codes = pos[keep], codes[keep]
            if len(pos) == 0:
                continue
        vals, idx = topk(codec.score(prep, codes), min(k, len(pos)))
        best_v.append(vals[0])
        best_p.append(pos[idx[0]])
    if not best_v:
        return _empty()
    allv, allp = np.concatenate(best_v), np.concatenate(best_p)
    vals, idx = topk(allv, min(k, len(allv)))
    return vals[0], allp[idx[0]]


def search_codes(
    state: HotState, q: npt.NDArray[np.float32], k: int, *, depth: int, nprobes: int | None,
    metric: str, pool: npt.NDArray[np.int64] | None = None, depth2: int | None = None,
    payload: list[str] | None = None, out: list[pa.Table] | None = None,
) -> Hits:
    """Top-``k`` of one query over the hot state: ``(scores, positions)`` best first.

    Args:
        state: The table version's arrays.
        q: One query ``[dim]``.
        k: Results wanted (fewer when the version, or the pool, holds fewer rows).
        depth: Hamming candidates (``k'``); in RAM mode all of them are re-scored by the codec.
        nprobes: IVF partitions to scan (``None``: all).
        metric: Table metric.
        pool: Restrict to these live row positions (a prefilter's result).
        depth2: Candidates narrowed by sign-code score and re-scored (``None``: all ``depth``
            in RAM mode; ``depth`` in disk mode, where these codes are read from the table).
        payload: Disk mode without a cache: columns to read in the same ``take`` as the
            codes (when at most :data:`PAYLOAD_WITH_CODES` are re-scored); their rows for
            the returned positions are appended to ``out`` (nothing is appended on paths that
            read no codes from Lance).
        out: Where that payload goes.
    """
    size = state.n_live if pool is None else len(pool)
    if size == 0:
        return _empty()
    prep = state.codec.prepare(q)
    disk = state.codes is None
    if state.bits is None or state.centre is None:
        return _exhaustive(state, prep, k, pool)
    if not disk and size <= max(FLAT_LIMIT, depth):
        return _exhaustive(state, prep, k, pool)
    qs = normalize_rows(q[None, :])[0] if metric == "cosine" else q
    qb = pack_signs(qs[None, :], state.centre).view(np.uint64)[0]
    nlist = 0 if state.centroids is None else len(state.centroids)
    parts = None
    if pool is None and nlist and nprobes is not None and nprobes < nlist:
        parts = probe_partitions(state, qs, nprobes, metric)
    slots = candidate_slots(state, qb, depth, parts, pool)
    if disk or depth2 is not None:
        slots = narrow_by_signs(state, qs, slots, depth2 or depth)
    return _rerank(state, prep, state.positions_at(slots), k, payload, out)
