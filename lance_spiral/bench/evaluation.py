"""Oracles and measurements shared by the benchmarks: exact top-k, recall, cosine, re-ranking."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors, check_int, check_metric
from lance_spiral.codecs.base import Codec, normalize_rows
from lance_spiral.errors import DimensionError, DTypeError, InvalidInputError
from lance_spiral.kernels.topk import topk

__all__ = [
    "Reranker",
    "check_ground_truth",
    "exact_topk",
    "one_thread",
    "recall_at",
    "reconstruction_cosine",
    "throughput",
]


def exact_topk(
    base: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    k: int,
    *,
    metric: str = "ip",
    block: int = 128,
) -> npt.NDArray[np.int64]:
    """Exact top-``k`` row ids by brute force (BLAS in query blocks), best first.

    Args:
        base: Vectors ``[n, d]``.
        queries: Queries ``[nq, d]``.
        k: Neighbours per query (clipped to ``n``).
        metric: ``ip``, ``cosine`` or ``l2``.
        block: Queries per BLAS block.

    Returns:
        ``int64[nq, min(k, n)]``.
    """
    metric = check_metric(metric)
    b = as_vectors(base, name="base")
    q = as_vectors(queries, dim=b.shape[1], name="queries")
    k = min(check_int(k, "k", lo=1), b.shape[0])
    if metric == "cosine":
        b, q = normalize_rows(b), normalize_rows(q)
    sq_norms = (b * b).sum(axis=1) if metric == "l2" else None
    out = np.empty((q.shape[0], k), dtype=np.int64)
    for s in range(0, q.shape[0], block):
        scores = q[s : s + block] @ b.T
        if sq_norms is not None:
            scores = 2.0 * scores - sq_norms[None, :]
        _, idx = topk(np.ascontiguousarray(scores, dtype=np.float32), k)
        out[s : s + block] = idx
    return out


def recall_at(pred: npt.NDArray[np.int64], gt: npt.NDArray[Any], k: int = 10) -> float:
    """Mean share of the true top-``k`` found in the predicted top-``k``.

    Raises:
        DimensionError: Fewer than ``k`` columns or mismatched query counts.
    """
    if pred.ndim != 2 or gt.ndim != 2 or pred.shape[0] != gt.shape[0]:
        raise DimensionError(f"pred {pred.shape} and gt {gt.shape} must be [nq, k] alike")
    if gt.shape[1] < k or pred.shape[1] < k:
        raise DimensionError(f"recall@{k} needs {k} columns: pred {pred.shape}, gt {gt.shape}")
    # Count each true neighbour found anywhere in the prediction (duplicates never count twice).
    hits = int((pred[:, :k, None] == gt[:, None, :k].astype(np.int64)).any(axis=1).sum())
    return hits / float(k * gt.shape[0])


def check_ground_truth(gt: Any, nq: int, n: int, k: int = 10) -> npt.NDArray[np.int64]:
    """Validate a ground-truth id matrix ``[nq, >=k]`` with ids in ``[0, n)``.

    Raises:
        DTypeError: Not integer.
        DimensionError: Wrong shape.
        InvalidInputError: Ids out of range.
    """
    arr = np.asarray(gt)
    if not np.issubdtype(arr.dtype, np.integer):
        raise DTypeError(f"ground truth must hold integer row ids, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != nq or arr.shape[1] < k:
        raise DimensionError(
            f"ground truth has shape {arr.shape}; expected [{nq} queries, >= {k}]"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise InvalidInputError(
            f"ground truth ids span [{arr.min()}, {arr.max()}] but the base has {n} rows"
        )
    return arr.astype(np.int64)


def reconstruction_cosine(
    x: npt.NDArray[np.float32], decoded: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Per-row cosine between original and decoded vectors (1.0 for two zero rows)."""
    num = (x * decoded).sum(axis=1)
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(decoded, axis=1)
    out = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    return out.astype(np.float32)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one numba thread (and one faiss/OpenMP thread when faiss is loaded)."""
    import sys

    import numba

    prev = numba.get_num_threads()
    faiss = sys.modules.get("faiss")
    prev_omp = faiss.omp_get_max_threads() if faiss is not None else None
    numba.set_num_threads(1)
    if faiss is not None:
        faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(prev)
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
