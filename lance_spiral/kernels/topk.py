"""Top-k selection over score matrices (higher is better), in numba."""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

from lance_spiral._validation import check_int
from lance_spiral.errors import DimensionError

__all__ = ["topk", "topk_merge"]


@nb.njit(cache=True, nogil=True, inline="always")
def _sift_down(vals: np.ndarray, idx: np.ndarray, k: int) -> None:
    # Min-heap on vals: the root is the weakest of the current top-k.
    i = 0
    while True:
        left = 2 * i + 1
        if left >= k:
            break
        c = left
        if left + 1 < k and vals[left + 1] < vals[left]:
            c = left + 1
        if vals[c] < vals[i]:
            vals[i], vals[c] = vals[c], vals[i]
            idx[i], idx[c] = idx[c], idx[i]
            i = c
        else:
            break


@nb.njit(cache=True, nogil=True)
def _topk_row(row: np.ndarray, k: int, out_v: np.ndarray, out_i: np.ndarray) -> None:
    n = row.shape[0]
    heap_v = np.empty(k, dtype=np.float32)
    heap_i = np.empty(k, dtype=np.int64)
    for j in range(k):
        heap_v[j] = -np.inf
        heap_i[j] = -1
    for j in range(n):
        v = row[j]
        if v > heap_v[0]:
            heap_v[0] = v
            heap_i[0] = j
            _sift_down(heap_v, heap_i, k)
    order = np.argsort(-heap_v, kind="mergesort")
    for j in range(k):
        out_v[j] = heap_v[order[j]]
        out_i[j] = heap_i[order[j]]


@nb.njit(cache=True, nogil=True, parallel=True)
def _topk_batch(scores: np.ndarray, k: int, out_v: np.ndarray, out_i: np.ndarray) -> None:
    for q in nb.prange(scores.shape[0]):
        _topk_row(scores[q], k, out_v[q], out_i[q])


def topk(
    scores: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Return ``(values, indices)`` of the ``k`` largest scores per row, best first.

    Rows with fewer than ``k`` entries are padded with ``-inf`` / ``-1``. NaN scores never enter
    the result.

    Args:
        scores: ``[nq, n]`` (or ``[n]``) scores, higher is better.
        k: How many to keep (>= 1).
    """
    check_int(k, "k", lo=1)
    s = np.asarray(scores)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2:
        raise DimensionError(f"scores must be 1-D or 2-D, got shape {s.shape}")
    s = np.ascontiguousarray(s, dtype=np.float32)
    out_v = np.empty((s.shape[0], k), dtype=np.float32)
    out_i = np.empty((s.shape[0], k), dtype=np.int64)
    _topk_batch(s, k, out_v, out_i)
    return out_v, out_i


def topk_merge(
    values: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], k: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Merge per-shard candidates ``[nq, m]`` (values + global ids) into a global top-``k``."""
    v, pos = topk(values, k)
    ids = np.asarray(ids)
    picked = np.take_along_axis(ids, np.maximum(pos, 0), axis=1)
    picked[pos < 0] = -1
    return v, picked.astype(np.int64)
