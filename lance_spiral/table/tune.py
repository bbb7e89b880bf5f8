"""Automatic choice of the re-rank depth ``k'`` (and IVF ``nprobes``) for a recall target.

Real queries sit farther from the data than the data's own rows (a question is not a gloss),
so the probe queries are midpoints of two random rows of the table: no row is its own answer
and neighbours are as loosely tied as for real queries. The reference is the exhaustive codec
search; the smallest setting on a ladder whose mean recall@k reaches the target is kept, with a
margin.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.hamming import hamming_candidates, hamming_candidates_rows, pack_signs
from lance_spiral.kernels.topk import topk
from lance_spiral.table.search import probe_partitions
from lance_spiral.table.state import HotState

__all__ = ["DEFAULT_TARGET", "tune_depth", "tune_nprobes"]

DEFAULT_TARGET = 0.98
_LADDER = (64, 128, 256, 512, 1024, 2048, 4096, 8192)


def _probe_queries(state: HotState, n_queries: int, seed: int, metric: str
                   ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    m = min(n_queries, state.n)
    a = state.codec.decode(state.codes[rng.choice(state.n, size=m, replace=False)])
    b = state.codec.decode(state.codes[rng.choice(state.n, size=m, replace=False)])
    queries = np.ascontiguousarray(0.5 * (a + b), dtype=np.float32)
    qs = normalize_rows(queries) if metric == "cosine" else queries
    return queries, qs


def tune_depth(state: HotState, k: int, *, metric: str, target: float = DEFAULT_TARGET,
               n_queries: int = 48, seed: int = 0) -> int:
    """Smallest ``k'`` (x2 margin) whose candidates hold ``target`` of the codec's top-``k``.

    Args:
        state: Hot arrays of the table version.
        k: Results per query.
        metric: Table metric.
        target: Recall target in (0, 1].
        n_queries: Sampled rows used as queries.
        seed: Sampling seed.

    Returns:
        The depth (at least ``4 * k``; the row count when the ladder never reaches the target).
    """
    n = state.n
    if state.bits is None or state.centre is None or n <= 8 * k:
        return max(4 * k, 64)
    codec = state.codec
    queries, qs = _probe_queries(state, n_queries, seed, metric)
    qbits = pack_signs(qs, state.centre).view(np.uint64)
    need = {d: 0.0 for d in _LADDER if d < n}
    for i in range(len(queries)):
        scores = codec.score(codec.prepare(queries[i]), state.codes)
        _, ref = topk(scores, k)
        truth = set(ref[0].tolist())
        for d in need:
            cand = hamming_candidates(state.bits, qbits[i], d + 1)
            need[d] += len(truth.intersection(cand.tolist())) / k
    for d in sorted(need):
        if need[d] / len(queries) >= target:
            return int(min(max(2 * d, 4 * k), n))
    return int(n)


def tune_nprobes(state: HotState, k: int, depth: int, *, metric: str,
                 target: float = DEFAULT_TARGET, n_queries: int = 48, seed: int = 1) -> int:
    """Smallest IVF ``nprobes`` (x2 margin) whose candidates hold ``target`` of the top-``k``.

    The reference is the same candidate stage over all partitions (the full scan at ``depth``),
    so this measures only what probing fewer partitions loses.

    Args:
        state: Hot arrays of the table version (with IVF centroids).
        k: Results per query.
        depth: Re-rank depth used with it.
        metric: Table metric.
        target: Recall target in (0, 1].
        n_queries: Sampled rows used as queries.
        seed: Sampling seed.

    Returns:
        ``nprobes`` (the partition count when no smaller value reaches the target).
    """
    c = state.centroids
    if c is None or state.bits is None or state.centre is None:
        return 1
    nlist = len(c)
    codec = state.codec
    queries, qs = _probe_queries(state, n_queries, seed, metric)
    qbits = pack_signs(qs, state.centre).view(np.uint64)
    ladder = sorted({max(1, nlist * f // 64) for f in (1, 2, 4, 8, 16, 24, 32, 48)})
    hits = dict.fromkeys(ladder, 0.0)
    for i in range(len(queries)):
        prep = codec.prepare(queries[i])
        full = hamming_candidates(state.bits, qbits[i], depth)
        _, ref = topk(codec.score(prep, state.codes[full]), k)
        truth = set(full[ref[0]].tolist())
        for p in ladder:
            rows = state.partition_rows(probe_partitions(state, qs[i], p, metric))
            cand = hamming_candidates_rows(state.bits, rows, qbits[i], depth)
            hits[p] += len(truth.intersection(cand.tolist())) / k
    for p in ladder:
        if hits[p] / len(queries) >= target:
            return int(min(nlist, max(1, 2 * p)))
    return nlist
