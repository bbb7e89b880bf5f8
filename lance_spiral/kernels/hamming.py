"""Numba kernels of the candidate stage: 1-bit codes, Hamming scans, counting-sort selection.

The candidate code of a vector ``x`` is the sign pattern of ``x - centre`` packed into 64-bit
words. Candidates are the rows of smallest Hamming distance to the query's pattern; since the
distances are small integers, the best ``k'`` come from a histogram (a counting sort), not a
heap: one pass over the distances, O(n).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = [
    "hamming_candidates",
    "hamming_candidates_rows",
    "pack_signs",
    "popcount64",
    "words_per_code",
]


@intrinsic
def popcount64(typingctx, x):  # type: ignore[no-untyped-def]
    """Number of set bits of a ``uint64`` (LLVM's ``ctpop``: one instruction on x86-64)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(fn, args)

    return sig, codegen


def words_per_code(dim: int) -> int:
    """Number of 64-bit words of a ``dim``-bit sign code."""
    return (dim + 63) // 64


def pack_signs(
    x: npt.NDArray[np.float32], centre: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    """Sign bits of ``x - centre`` as ``uint8[n, 8 * words_per_code(dim)]`` (little-endian)."""
    n, dim = x.shape
    w = words_per_code(dim)
    bits = np.zeros((n, w * 64), dtype=np.uint8)
    bits[:, :dim] = (x - centre[None, :]) > 0
    packed = np.packbits(bits, axis=1, bitorder="little")
    return np.ascontiguousarray(packed)


@nb.njit(cache=True, nogil=True, parallel=True)
def _hamming_all(codes: np.ndarray, q: np.ndarray, out: np.ndarray) -> None:
    n, w = codes.shape
    for i in nb.prange(n):
        d = np.int64(0)
        for j in range(w):
            d += np.int64(popcount64(codes[i, j] ^ q[j]))  # type: ignore[call-arg]
        out[i] = d


@nb.njit(cache=True, nogil=True)
def _hamming_rows(codes: np.ndarray, rows: np.ndarray, q: np.ndarray, out: np.ndarray) -> None:
    w = codes.shape[1]
    for t in range(rows.shape[0]):
        i = rows[t]
        d = np.int64(0)
        for j in range(w):
            d += np.int64(popcount64(codes[i, j] ^ q[j]))  # type: ignore[call-arg]
        out[t] = d


@nb.njit(cache=True, nogil=True)
def _select_smallest(dist: np.ndarray, k: int, max_d: int) -> np.ndarray:
    hist = np.zeros(max_d + 2, dtype=np.int64)
    n = dist.shape[0]
    for i in range(n):
        hist[dist[i]] += 1
    cum = 0
    thr = max_d
    for d in range(max_d + 1):
        cum += hist[d]
        if cum >= k:
            thr = d
            break
    out = np.empty(min(cum, n), dtype=np.int64)
    below = cum - hist[thr]
    need_eq = k - below
    c = 0
    eq = 0
    for i in range(n):
        d = dist[i]
        if d < thr:
            out[c] = i
            c += 1
        elif d == thr and eq < need_eq:
            out[c] = i
            c += 1
            eq += 1
    return out[:c]


def hamming_candidates(
    codes: npt.NDArray[np.uint64], q: npt.NDArray[np.uint64], k: int
) -> npt.NDArray[np.int64]:
    """Row indices of the ``k`` codes nearest to ``q`` in Hamming distance (unordered)."""
    n = codes.shape[0]
    if k >= n:
        return np.arange(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.int64)
    _hamming_all(codes, q, dist)
    return np.asarray(_select_smallest(dist, k, codes.shape[1] * 64))


def hamming_candidates_rows(
    codes: npt.NDArray[np.uint64],
    rows: npt.NDArray[np.int64],
    q: npt.NDArray[np.uint64],
    k: int,
) -> npt.NDArray[np.int64]:
    """Like :func:`hamming_candidates`, restricted to ``rows``; returns row indices."""
    if k >= rows.shape[0]:
        return rows
    dist = np.empty(rows.shape[0], dtype=np.int64)
    _hamming_rows(codes, rows, q, dist)
    return rows[_select_smallest(dist, k, codes.shape[1] * 64)]
