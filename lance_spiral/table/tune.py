"""Automatic choice of the search settings (IVF ``nprobes``, candidates, re-rank) for a target.

Real queries sit farther from the data than the data's own rows (a question is not a gloss),
and stored rows often have near-duplicates that a row, or a midpoint of two rows, finds at once.
So each probe query is the mean of :data:`PROBE_ROWS` random rows of the table, moved by
isotropic noise to a cosine of :data:`PROBE_COSINE` with that mean, and its seed rows are left
out of its answers: no row is its own answer, and the neighbours form a loose crowd as for real
queries. (Midpoints of two rows, used before, were far easier than real queries on tables with
many near-duplicates: at 1 M synthetic rows they chose a depth 16x too small, recall@10 0.886.
Single rows with noise, and means of 3 rows, were still too easy on a table of 12
near-duplicates per real row (recall 0.86 at target 0.98); means of 4 rows are harder than the
1 M-row benchmark's real queries at the candidate stages. Measured in docs/scale.md.) The
reference is the exhaustive codec search (streamed from the table in the ``disk`` memory mode).

The settings are chosen in the order a query runs them, within a miss budget ``SLACK * (1 -
target)`` split by :data:`_SPLIT`: first the fewest IVF partitions whose rows hold the probes'
answers (from partition ranks alone: nothing is scanned); then, within those partitions, the
pair (Hamming candidates, codes re-scored after sign-code narrowing) of least cost that keeps
the rest of the budget, the cost weighing a re-scored code by where it is read from (RAM, a
local cache, or Lance ``take``: :func:`_row_costs`). Each stage is measured within the previous
one's choice, so the depth at 5 M rows is a depth within the probed partitions, not within
every row. The whole budget goes to the stages: the probes are harder than real queries there,
which leaves room for the codec's own error against exact search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.hamming import pack_signs, sign_dot_rows, sign_lut
from lance_spiral.kernels.topk import topk
from lance_spiral.table.search import candidate_slots, probe_partitions
from lance_spiral.table.state import HotState

__all__ = ["DEFAULT_TARGET", "PROBE_COSINE", "Settings", "forget_probes", "reference_topk",
           "retune", "tune_search"]

DEFAULT_TARGET = 0.98
PROBE_COSINE = 0.8
PROBE_ROWS = 4
# Share of the miss budget ``1 - target`` the probe queries may lose against the codec's own
# exhaustive answer, and how it is split between the stages: IVF probing, Hamming candidates,
# sign-code narrowing (the last two chosen together, with both their shares).
SLACK = 1.0
_SPLIT = (0.4, 0.4, 0.2)
_LADDER = (64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192,
           12288, 16384, 24576, 32768, 49152, 65536)
_LADDER2 = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


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
    got: Probes | None = state.cache.get(key)
    if got is None:  # (a query may drop the cached probes at any time: keep our own reference)
        queries, qs, seeds = _probe_queries(state, n_queries, seed, metric)
        got = (queries, qs, reference_topk(state, queries, k, seeds))
        state.cache[key] = got
    return got


def forget_probes(state: HotState) -> None:
    """Drop the probe queries and their reference answers kept between tuning calls."""
    for key in list(state.cache):
        if isinstance(key, tuple) and key and key[0] == "probes":
            state.cache.pop(key, None)


@dataclass(frozen=True)
class Settings:
    """Search settings of one query shape.

    Attributes:
        nprobes: IVF partitions to scan (``None``: all rows).
        depth: Hamming candidates.
        depth2: Of those, how many are re-scored by the codec (after sign-code narrowing).
    """

    nprobes: int | None
    depth: int
    depth2: int


def _smallest(ladder: list[int], score: dict[int, float], goal: float, default: int) -> int:
    for d in ladder:
        if score[d] >= goal - 1e-12:
            return d
    return default


def _ivf_recall(state: HotState, qs: npt.NDArray[np.float32], truth: list[set[int]],
                metric: str) -> npt.NDArray[np.float64]:
    """``recall[p - 1]``: mean share of the answers found in the ``p`` nearest partitions."""
    c, parts = state.centroids, state.parts
    assert c is not None and parts is not None
    nlist = len(c)
    found = np.zeros(nlist + 1, dtype=np.float64)
    used = 0
    for i, t in enumerate(truth):
        if not t:
            continue
        s = c @ qs[i] if metric != "l2" else -((c - qs[i][None, :]) ** 2).sum(axis=1)
        rank = np.empty(nlist, dtype=np.int64)
        rank[np.argsort(-s, kind="stable")] = np.arange(nlist)
        r = rank[parts[np.fromiter(t, dtype=np.int64)].astype(np.int64)]
        found += np.bincount(r + 1, minlength=nlist + 1)[: nlist + 1] / len(t)
        used += 1
    return np.cumsum(found)[1:] / max(used, 1)


def _probed(state: HotState, qs: npt.NDArray[np.float32], nprobes: int | None, metric: str
            ) -> npt.NDArray[np.int64] | None:
    nlist = 0 if state.centroids is None else len(state.centroids)
    if not nlist or nprobes is None or nprobes >= nlist:
        return None
    return probe_partitions(state, qs, nprobes, metric)


def tune_search(state: HotState, k: int, *, metric: str, target: float = DEFAULT_TARGET,
                nprobes: int | None = None, depth: int | None = None,
                depth2: int | None = None, n_queries: int = 48, seed: int = 0) -> Settings:
    """Settings reaching ``target`` recall@k on probe queries (see the module docs).

    Args:
        state: Hot arrays of the table version.
        k: Results per query.
        metric: Table metric.
        target: Recall target in (0, 1].
        nprobes: IVF partitions, if fixed by the caller (the others are tuned around it).
        depth: Hamming candidates, if fixed by the caller.
        depth2: Codes re-scored, if fixed by the caller.
        n_queries: Probe queries.
        seed: Sampling seed.
    """
    n = state.n_live
    nlist = 0 if state.centroids is None else len(state.centroids)
    if state.bits is None or state.centre is None or n <= 8 * k:
        d = depth or max(4 * k, 64)
        return Settings(nprobes, d, min(depth2 or d, d))
    queries, qs, truth = _probes_with_truth(state, k, n_queries, seed, metric)
    budget = [(1.0 - target) * SLACK * f for f in _SPLIT]
    qbits = pack_signs(qs, state.centre).view(np.uint64)
    nq = len(queries)
    ceiling = 1.0
    if nlist and state.parts is not None:
        recall = _ivf_recall(state, qs, truth, metric)
        if nprobes is None:
            hit = np.flatnonzero(recall >= 1.0 - budget[0] - 1e-12)
            nprobes = int(hit[0]) + 1 if len(hit) else nlist
        ceiling = float(recall[min(nprobes, nlist) - 1])
    parts = [_probed(state, qs[i], nprobes, metric) for i in range(nq)]
    if depth is None and depth2 is None:
        depth, depth2 = _joint_depths(state, k, qs, qbits, truth, parts,
                                      ceiling - budget[1] - budget[2])
    if depth is None:
        ladder = [d for d in _LADDER if d < n]
        score = dict.fromkeys(ladder, 0.0)
        for i in range(nq):
            for j, d in enumerate(ladder):
                cand = state.positions_at(candidate_slots(state, qbits[i], d, parts[i]))
                got = len(truth[i].intersection(cand.tolist())) / k / nq
                if len(cand) < d or got * k * nq >= len(truth[i]) - 1e-9:
                    # every probed row, or every answer: deeper finds the same
                    for d_more in ladder[j:]:
                        score[d_more] += got
                    break
                score[d] += got
        depth = _smallest(ladder, score, ceiling - budget[1], n)
    if depth2 is None:
        ladder2 = [d for d in _LADDER2 if d < depth]
        score2 = dict.fromkeys(ladder2, 0.0)
        held = 0.0
        for i in range(nq):
            slots = candidate_slots(state, qbits[i], depth, parts[i])
            cand = state.positions_at(slots)
            held += len(truth[i].intersection(cand.tolist())) / k / nq
            if not ladder2:
                continue
            s = sign_dot_rows(state.bits, slots, sign_lut(qs[i], state.bits.shape[1]))
            order = cand[np.argsort(-s, kind="stable")]
            for d in ladder2:
                score2[d] += len(truth[i].intersection(order[:d].tolist())) / k / nq
        depth2 = _smallest(ladder2, score2, held - budget[2], depth)
    return Settings(nprobes, int(depth), int(max(min(depth2, depth), min(2 * k, depth))))


def _row_costs(state: HotState) -> tuple[float, float]:
    """Relative cost of one Hamming candidate (sign-code narrowing) and one re-scored code.

    Measured on the 1 M-row scale table (docs/scale.md): narrowing ~25 ns per candidate; a
    re-scored code ~60 ns from RAM, ~0.5 us from the local disk cache, ~8 us through Lance
    ``take`` (a few hundred random rows of a local table).
    """
    if state.codes is not None:
        return 25.0, 60.0
    if state.disk_cache is not None:
        return 25.0, 500.0
    return 25.0, 8000.0


def _joint_depths(state: HotState, k: int, qs: npt.NDArray[np.float32],
                  qbits: npt.NDArray[np.uint64], truth: list[set[int]],
                  parts: list[npt.NDArray[np.int64] | None], goal: float) -> tuple[int, int]:
    """The cheapest ``(depth, depth2)`` whose probes keep ``goal`` of the answers.

    Every pair of the two ladders is measured (the sign-code order of each depth's candidates
    gives every ``depth2`` at once); the cost is :func:`_row_costs`' model.
    """
    assert state.bits is not None
    n = state.n_live
    ladder = [d for d in _LADDER if d < n] + [n]
    ladder2 = [d for d in _LADDER2 if d < n]
    nq = len(qs)
    cap = np.zeros((len(ladder), len(ladder2)), dtype=np.float64)
    for i in range(nq):
        for a, d in enumerate(ladder):
            slots = candidate_slots(state, qbits[i], d, parts[i])
            cand = state.positions_at(slots)
            lut = sign_lut(qs[i], state.bits.shape[1])
            order = cand[np.argsort(-sign_dot_rows(state.bits, slots, lut), kind="stable")]
            found = np.isin(order, np.fromiter(truth[i], dtype=np.int64, count=len(truth[i])))
            hits = np.cumsum(found)
            row = np.array([hits[min(d2, len(hits)) - 1] if len(hits) else 0
                            for d2 in ladder2], dtype=np.float64) / k / nq
            every = len(cand) < d or int(hits[-1] if len(hits) else 0) >= len(truth[i])
            cap[a if not every else slice(a, None)] += row
            if every:
                break
    c1, c2 = _row_costs(state)
    best: tuple[float, int, int] | None = None
    for a, d in enumerate(ladder):
        for b, d2 in enumerate(ladder2):
            if d2 <= d and cap[a, b] >= goal - 1e-12:
                cost = c1 * d + c2 * d2
                if best is None or cost < best[0]:
                    best = (cost, d, d2)
    if best is None:
        return n, ladder2[-1] if ladder2 else n
    return best[1], best[2]


def _opt(v: object) -> int | None:
    return v if isinstance(v, int) else None


def retune(state: HotState, keys: list[tuple[object, ...]]) -> dict[tuple[object, ...], Settings]:
    """Settings of ``state`` for the query shapes ``keys`` (another version's ``tuned`` keys).

    Run for a version whose row count moved too far from the one its previous settings were
    measured at, off the query path (see :meth:`~lance_spiral.table.hotload.StateCache.advance`).
    """
    out: dict[tuple[object, ...], Settings] = {}
    for key in keys:
        if not (isinstance(key, tuple) and len(key) == 6 and key[0] == "auto"):
            continue
        _, k, target, nprobes, depth, depth2 = key
        if isinstance(k, int) and isinstance(target, float):
            out[key] = tune_search(
                state, k, metric=state.meta.metric, target=target, nprobes=_opt(nprobes),
                depth=_opt(depth), depth2=_opt(depth2))
    forget_probes(state)
    return out
