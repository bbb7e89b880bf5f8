"""Row gather of a 2-D array by row index, shared by numba's threads."""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = ["gather_rows"]


@nb.njit(cache=True, nogil=True, parallel=True)
def _gather(src: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    w = src.shape[1]
    for t in nb.prange(rows.shape[0]):
        i = rows[t]
        for j in range(w):
            out[t, j] = src[i, j]


def gather_rows(src: npt.NDArray[np.uint8], rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """``src[rows]`` for a C-contiguous ``uint8[n, width]`` (rows checked to be in range).

    A query's re-rank candidates are a few thousand random rows of a large code array: copying
    them on every thread, without numpy's fancy-indexing machinery, halves the cost.
    """
    r = np.ascontiguousarray(rows, dtype=np.int64)
    if len(r) and (int(r.min()) < 0 or int(r.max()) >= src.shape[0]):
        raise IndexError(f"row index out of range for {src.shape[0]} rows")
    out = np.empty((len(r), src.shape[1]), dtype=src.dtype)
    if len(r):
        _gather(src, r, out)
    return out
