"""Quality measures shared by the tuner, the benchmarks, the demo and the examples.

Every recall claim in this project is measured against exact brute-force search
(:func:`exact_topk`), as the k-NN intersection measure (:func:`recall_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors, check_int, check_metric
from lance_spiral.codecs.base import normalize_rows
from lance_spiral.errors import DimensionError, DTypeError, InvalidInputError
from lance_spiral.kernels.topk import topk

__all__ = [
    "check_ground_truth",
    "exact_topk",
    "recall_at",
    "recall_per_query",
    "reconstruction_cosine",
    "relevant_recall",
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


def recall_per_query(
    pred: npt.NDArray[np.int64], gt: npt.NDArray[Any], k: int = 10
) -> npt.NDArray[np.float64]:
    """Per query, the share of the true top-``k`` found in the predicted top-``k``.

    A true neighbour found twice counts once; ``-1`` (no result) never matches.

    Raises:
        DimensionError: Fewer than ``k`` columns or mismatched query counts.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.ndim != 2 or gt.ndim != 2 or pred.shape[0] != gt.shape[0]:
        raise DimensionError(f"pred {pred.shape} and gt {gt.shape} must be [nq, k] alike")
    if gt.shape[1] < k or pred.shape[1] < k:
        raise DimensionError(f"recall@{k} needs {k} columns: pred {pred.shape}, gt {gt.shape}")
    truth = gt[:, :k].astype(np.int64)
    hits = (pred[:, :k, None].astype(np.int64) == truth[:, None, :]).any(axis=1).sum(axis=1)
    return np.asarray(hits, dtype=np.float64) / float(k)


def recall_at(pred: npt.NDArray[np.int64], gt: npt.NDArray[Any], k: int = 10) -> float:
    """Mean share of the true top-``k`` found in the predicted top-``k`` (recall@k)."""
    return float(recall_per_query(pred, gt, k).mean()) if len(pred) else 0.0


def relevant_recall(
    retrieved: Sequence[Sequence[Any]], relevant: Sequence[set[Any]], k: int
) -> float:
    """Mean share of each query's relevant ids (judged, e.g. BEIR qrels) in its first ``k`` hits.

    Raises:
        InvalidInputError: Different numbers of queries, or a query without relevant ids.
    """
    if len(retrieved) != len(relevant) or not relevant:
        raise InvalidInputError(
            f"{len(retrieved)} result lists for {len(relevant)} relevance sets")
    if any(not r for r in relevant):
        raise InvalidInputError("every query needs at least one relevant id")
    return float(np.mean([len(set(list(r)[:k]) & q) / len(q)
                          for r, q in zip(retrieved, relevant, strict=True)]))


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
