"""Top-k search of one query over a table version's hot state (no Lance I/O).

``compressed`` tables: the 1-bit candidate codes are scanned (all rows, the probed IVF partitions,
or the rows a prefilter kept) with a Hamming kernel; the best ``k'`` candidates are re-scored with
the table's codec (e.g. SQ8) and the top ``k`` kept. Small tables (or small filtered sets) are
scored exhaustively with the codec.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.hamming import hamming_candidates, hamming_candidates_rows, pack_signs
from lance_spiral.kernels.topk import topk
from lance_spiral.table.state import HotState

__all__ = ["FLAT_LIMIT", "probe_partitions", "search_codes"]

FLAT_LIMIT = 8192


def probe_partitions(state: HotState, qs: npt.NDArray[np.float32], nprobes: int, metric: str
                     ) -> npt.NDArray[np.int64]:
    """The ``nprobes`` IVF partitions nearest to the (normalised) query ``qs``."""
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
        rows = state.partition_rows(probe_partitions(state, qs, nprobes, metric))
        cand = hamming_candidates_rows(state.bits, rows, qb, depth)
    elif pool is None:
        cand = hamming_candidates(state.bits, qb, depth)
    else:
        cand = hamming_candidates_rows(state.bits, pool, qb, depth)
    if len(cand) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    vals, idx = topk(codec.score(prep, state.codes[cand]), min(k, len(cand)))
    return vals[0], cand[idx[0]]
