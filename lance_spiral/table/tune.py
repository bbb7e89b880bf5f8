"""Automatic choice of the re-rank depths (and IVF ``nprobes``) for a recall target.

Real queries sit farther from the data than the data's own rows (a question is not a gloss),
and stored rows often have near-duplicates that a row, or a midpoint of two rows, finds at once.
So each probe query is the mean of :data:`PROBE_ROWS` random rows of the table, moved by
isotropic noise to a cosine of :data:`PROBE_COSINE` with that mean, and its seed rows are left
out of its answers: no row is its own answer, and the neighbours form a loose crowd as for real
queries. (Midpoints of two rows, used before, were far easier than real queries on tables with
many near-duplicates: at 1 M synthetic rows they chose a depth 16x too small, recall@10 0.886.
Single rows with noise were still too easy on a table of 12 near-duplicates per real row; means
of 8 rows too hard at 1 M rows. Measured in docs/scale.md.) The reference is the exhaustive
codec search (streamed from the table in the ``disk`` memory mode); the smallest setting on a
ladder whose mean recall@k reaches the target is kept, with a margin.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.hamming import hamming_candidates, hamming_candidates_rows, pack_signs
from lance_spiral.kernels.topk import topk
from lance_spiral.table.search import narrow_by_signs, probe_partitions
from lance_spiral.table.state import HotState

__all__ = ["DEFAULT_TARGET", "PROBE_COSINE", "forget_probes", "reference_topk", "tune_depth",
           "tune_depth2",
           "tune_nprobes"]

DEFAULT_TARGET = 0.98
PROBE_COSINE = 0.8
PROBE_ROWS = 4
_LADDER = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
_LADDER2 = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096)


def _probe_queries(state: HotState, n_queries: int, seed: int, metric: str
                   ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32],
                              npt.NDArray[np.int64]]:
    """``(queries, prepared queries, seed positions [n, PROBE_ROWS])`` (see the module docs).

    Each query is the mean of :data:`PROBE_ROWS` random rows plus isotropic noise of norm ``s *
    |mean|`` (``|mean - centre|`` for ``l2``/``ip``), ``s = sqrt(1 / PROBE_COSINE**2 - 1)``, so
    its cosine with the mean is about :data:`PROBE_COSINE` in high dimension.
    """
    rng = np.random.default_rng(seed)
    m = max(1, min(PROBE_ROWS, state.n_live // max(n_queries, 1)))
    pos = state.sample_live(rng, n_queries * m)
    n_q = len(pos) // m
    pos = pos[:n_q * m].reshape(n_q, m)
    a = state.codec.decode(state.fetch_codes(pos.reshape(-1))).astype(np.float32)
    if metric == "cosine":
        a = normalize_rows(a)
    a = a.reshape(n_q, m, -1).mean(axis=1)
    if metric == "cosine" or state.centre is None:
        scale = np.linalg.norm(a, axis=1, keepdims=True)
    else:
        scale = np.linalg.norm(a - state.centre[None, :], axis=1, keepdims=True)
    s = float(np.sqrt(1.0 / PROBE_COSINE**2 - 1.0))
    g = rng.standard_normal(a.shape).astype(np.float32) / np.float32(np.sqrt(a.shape[1]))
    queries = np.ascontiguousarray(a + s * scale * g, dtype=np.float32)
    qs = normalize_rows(queries) if metric == "cosine" else queries
    return queries, qs, pos


def _leave_out(order: npt.NDArray[np.int64], seeds: npt.NDArray[np.int64], k: int) -> set[int]:
    """The first ``k`` of ``order`` (best first) that are not ``seeds``."""
    return set(order[~np.isin(order, seeds)][:k].tolist())


def reference_topk(state: HotState, queries: npt.NDArray[np.float32], k: int,
                   leave_out: npt.NDArray[np.int64] | None = None) -> list[set[int]]:
    """Positions of each query's exhaustive codec top-``k`` over the version's rows.

    In RAM mode the resident codes are scored; in disk mode the code column is streamed once
    for all queries (bounded memory). ``leave_out[i]`` (a position) is never in query ``i``'s
    answer.
    """
    codec = state.codec
    none = np.full((len(queries), 1), -1, dtype=np.int64)
    seeds = none if leave_out is None else leave_out.reshape(len(queries), -1)
    kk = k + (0 if leave_out is None else seeds.shape[1])
    preps = [codec.prepare(q) for q in queries]
    if state.codes is not None and state.alive is None:
        out = []
        for prep, seed in zip(preps, seeds, strict=True):
            _, ref = topk(codec.score(prep, state.codes), min(kk, state.n))
            out.append(_leave_out(ref[0], seed, k))
        return out
    best: list[list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]] = [
        [] for _ in preps]
    for pos, codes in state.iter_codes():
        if state.alive is not None and len(pos):
            keep = state.alive[pos]
            pos, codes = pos[keep], codes[keep]
        if len(pos) == 0:
            continue
        for i, prep in enumerate(preps):
            vals, idx = topk(codec.score(prep, codes), min(kk, len(pos)))
            best[i].append((vals[0], pos[idx[0]]))
    out = []
    for parts, seed in zip(best, seeds, strict=True):
        if not parts:
            out.append(set())
            continue
        v = np.concatenate([p[0] for p in parts])
        p = np.concatenate([p[1] for p in parts])
        _, idx = topk(v, min(kk, len(v)))
        out.append(_leave_out(p[idx[0]], seed, k))
    return out


Probes = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], list[set[int]]]


def _probes_with_truth(state: HotState, k: int, n_queries: int, seed: int, metric: str
                       ) -> Probes:
    key = ("probes", k, n_queries, seed, metric)
    if key not in state.cache:
        queries, qs, seeds = _probe_queries(state, n_queries, seed, metric)
        state.cache[key] = (queries, qs, reference_topk(state, queries, k, seeds))
    got: Probes = state.cache[key]
    return got


def forget_probes(state: HotState) -> None:
    """Drop the probe queries and their reference answers kept between tuning calls."""
    for key in list(state.cache):
        if isinstance(key, tuple) and key and key[0] == "probes":
            state.cache.pop(key, None)


def tune_depth(state: HotState, k: int, *, metric: str, target: float = DEFAULT_TARGET,
               n_queries: int = 48, seed: int = 0) -> int:
    """Smallest ``k'`` (x2 margin) whose candidates hold ``target`` of the codec's top-``k``.

    Args:
        state: Hot arrays of the table version.
        k: Results per query.
        metric: Table metric.
        target: Recall target in (0, 1].
        n_queries: Probe queries (see the module docs).
        seed: Sampling seed.

    Returns:
        The depth (at least ``4 * k``; the row count when the ladder never reaches the target).
    """
    n = state.n_live
    if state.bits is None or state.centre is None or n <= 8 * k:
        return max(4 * k, 64)
    queries, qs, truth = _probes_with_truth(state, k, n_queries, seed, metric)
    qbits = pack_signs(qs, state.centre).view(np.uint64)
    need = {d: 0.0 for d in _LADDER if d < n}
    for i in range(len(queries)):
        for d in need:
            cand = hamming_candidates(state.bits, qbits[i], d + 1, state.alive)
            need[d] += len(truth[i].intersection(cand.tolist())) / k
    for d in sorted(need):
        if need[d] / len(queries) >= target:
            return int(min(max(2 * d, 4 * k), n))
    return int(n)


def tune_depth2(state: HotState, k: int, depth: int, *, metric: str,
                target: float = DEFAULT_TARGET, n_queries: int = 48, seed: int = 0) -> int:
    """How many of the ``depth`` Hamming candidates to re-score with the codec.

    The candidates are ordered by their sign codes' score against the float query; the smallest
    count on a ladder holding ``target`` of the codec's exhaustive top-``k`` (or all the
    candidates hold, if less) is kept. No x2 margin here: the probe queries are harder than real
    ones already (at 1 M synthetic rows they asked for 1,024 where real queries need 512), and in
    the disk mode these are the codes read per query, the main cost.

    Returns:
        The count (at least ``2 * k``, at most ``depth``).
    """
    if state.bits is None or state.centre is None or depth <= 2 * k:
        return max(depth, k)
    queries, qs, truth = _probes_with_truth(state, k, n_queries, seed, metric)
    qbits = pack_signs(qs, state.centre).view(np.uint64)
    ladder = [d for d in _LADDER2 if d < depth]
    hits = dict.fromkeys(ladder, 0.0)
    ceiling = 0.0
    for i in range(len(queries)):
        cand = hamming_candidates(state.bits, qbits[i], depth, state.alive)
        ceiling += len(truth[i].intersection(cand.tolist())) / k
        for d in ladder:
            top = narrow_by_signs(state, qs[i], cand, d)
            hits[d] += len(truth[i].intersection(top.tolist())) / k
    goal = min(target, ceiling / len(queries))
    for d in ladder:
        if hits[d] / len(queries) >= goal:
            return int(min(depth, max(d, 2 * k)))
    return int(depth)


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
        n_queries: Probe queries (see the module docs).
        seed: Sampling seed.

    Returns:
        ``nprobes`` (the partition count when no smaller value reaches the target).
    """
    c = state.centroids
    if c is None or state.bits is None or state.centre is None:
        return 1
    nlist = len(c)
    codec = state.codec
    queries, qs, seeds = _probe_queries(state, n_queries, seed, metric)
    qbits = pack_signs(qs, state.centre).view(np.uint64)
    ladder = sorted({max(1, nlist * f // 64) for f in (1, 2, 4, 8, 16, 24, 32, 48)})
    hits = dict.fromkeys(ladder, 0.0)
    for i in range(len(queries)):
        prep = codec.prepare(queries[i])
        extra = seeds.shape[1]
        full = hamming_candidates(state.bits, qbits[i], depth + extra, state.alive)
        _, ref = topk(codec.score(prep, state.fetch_codes(full)),
                      min(k + extra, max(len(full), 1)))
        truth = _leave_out(full[ref[0]], seeds[i], k) if len(full) else set()
        for p in ladder:
            rows = state.partition_rows(probe_partitions(state, qs[i], p, metric))
            cand = hamming_candidates_rows(state.bits, rows, qbits[i], depth + extra,
                                           state.alive)
            hits[p] += len(truth.intersection(cand.tolist())) / k
    for p in ladder:
        if hits[p] / len(queries) >= target:
            return int(min(nlist, max(1, 2 * p)))
    return nlist
