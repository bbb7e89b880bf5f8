"""Measurement helpers of the benchmark harness: timing, one-thread runs, re-ranking.

Quality measures (exact top-k, recall, cosine) live in :mod:`lance_spiral.codecs.metrics`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs.base import Codec, normalize_rows
from lance_spiral.kernels.threads import single_thread
from lance_spiral.kernels.topk import topk

__all__ = ["Reranker", "one_thread", "throughput"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one numba thread (and one faiss/OpenMP thread when faiss is loaded)."""
    faiss = sys.modules.get("faiss")
    prev_omp = faiss.omp_get_max_threads() if faiss is not None else None
    if faiss is not None:
        faiss.omp_set_num_threads(1)
    try:
        with single_thread():
            yield
    finally:
        if faiss is not None and prev_omp is not None:
            faiss.omp_set_num_threads(prev_omp)


def throughput(fn: Callable[[], Any], n: int, *, min_time: float = 0.2, repeat: int = 3) -> float:
    """Items per second of ``fn`` (which processes ``n`` items), best of a few timed runs.

    One untimed warm-up call first (JIT compilation, caches).
    """
    fn()
    best = float("inf")
    spent = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        if spent > min_time * repeat:
            break
    return n / best if best > 0 else float("inf")


class Reranker:
    """Re-rank candidate ids with a finer codec: decode the candidates' codes, score exactly."""

    def __init__(self, codec: Codec, base: npt.NDArray[np.float32], *, chunk: int = 65536):
        """Encode ``base`` with the fitted ``codec`` (kept in memory for re-ranking)."""
        self.codec = codec
        self.codes = np.concatenate(
            [codec.encode(base[s : s + chunk]) for s in range(0, base.shape[0], chunk)]
        )

    def rerank(
        self, queries: npt.NDArray[np.float32], cand: npt.NDArray[np.int64], k: int,
        *, block: int = 64,
    ) -> npt.NDArray[np.int64]:
        """Best ``k`` of each row of ``cand`` (ids; ``-1`` = no candidate) by decoded score."""
        nq, kc = cand.shape
        out = np.full((nq, k), -1, dtype=np.int64)
        if self.codec.metric == "cosine":
            queries = normalize_rows(queries)
        for s in range(0, nq, block):
            c = cand[s : s + block]
            valid = c >= 0
            vecs = self.codec.decode(self.codes[np.where(valid, c, 0).reshape(-1)])
            vecs = vecs.reshape(c.shape[0], kc, -1)
            scores = np.einsum("qkd,qd->qk", vecs, queries[s : s + block])
            if self.codec.metric == "l2":
                scores = 2.0 * scores - (vecs * vecs).sum(axis=2)
            scores = np.where(valid, scores, -np.inf).astype(np.float32)
            _, pos = topk(np.ascontiguousarray(scores), min(k, kc))
            out[s : s + block, : pos.shape[1]] = np.take_along_axis(c, pos, axis=1)
        return out
