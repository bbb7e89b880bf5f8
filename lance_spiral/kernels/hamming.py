"""Numba kernels of the candidate stage: 1-bit codes, Hamming scans, counting-sort selection.

The candidate code of a vector ``x`` is the sign pattern of ``x - centre`` packed into 64-bit
words. Candidates are the rows of smallest Hamming distance to the query's pattern; since the
distances are small integers, the best ``k'`` come from a histogram (a counting sort), not a
heap: one pass over the distances, O(n).

Rows of a table version that are deleted (or belong to a dropped fragment) stay in the arrays
until they are compacted; the scans take an ``alive`` mask and never return such rows. A second,
finer candidate stage scores the sign codes against the float query itself (``<q, sign(x - c)>``,
asymmetric: no query quantisation) with a per-byte lookup table, :func:`sign_dot_rows`.
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
    "hamming_candidates_ranges",
    "hamming_candidates_rows",
    "pack_signs",
    "popcount64",
    "sign_dot_rows",
    "sign_lut",
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


@nb.njit(cache=True, nogil=True, parallel=True)
def _hamming_alive(codes: np.ndarray, alive: np.ndarray, q: np.ndarray, out: np.ndarray,
                   dead: int) -> None:
    n, w = codes.shape
    for i in nb.prange(n):
        if not alive[i]:
            out[i] = dead
            continue
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


@nb.njit(cache=True, nogil=True, parallel=True)
def _ranges_select(codes: np.ndarray, starts: np.ndarray, offs: np.ndarray,
                   bounds: np.ndarray, q: np.ndarray, alive: np.ndarray, order: np.ndarray,
                   indexed: int, k: int, max_d: int, dist: np.ndarray) -> np.ndarray:
    """Hamming distances of the ranges' rows, then the slots of the ``k`` smallest.

    Chunk ``c`` owns ranges ``[bounds[c], bounds[c + 1])``: each chunk fills its part of
    ``dist`` and its own histogram, then (once the threshold is known) writes its selected
    slots into its own part of the output; both passes run in parallel over the chunks.
    """
    w = codes.shape[1]
    nc = bounds.shape[0] - 1
    dead = max_d + 1
    hist = np.zeros((nc, max_d + 2), dtype=np.int64)
    check = alive.shape[0] > 0
    for c in nb.prange(nc):
        for r in range(bounds[c], bounds[c + 1]):
            s0 = starts[r]
            o0 = offs[r]
            for t in range(offs[r + 1] - o0):
                s = s0 + t
                d = np.int32(0)
                if check:
                    p = np.int64(order[s]) if s < indexed else s
                    if not alive[p]:
                        d = np.int32(dead)
                if d == 0:
                    for j in range(w):
                        d += np.int32(popcount64(codes[s, j] ^ q[j]))  # type: ignore[call-arg]
                dist[o0 + t] = d
                hist[c, d] += 1
    total = hist.sum(axis=0)
    thr, cum = _threshold(total, k, max_d)
    need_eq = min(k, cum) - (cum - total[thr])
    base = np.zeros(nc + 1, dtype=np.int64)
    take = np.zeros(nc, dtype=np.int64)
    for c in range(nc):
        below = hist[c, :thr].sum()
        take[c] = min(hist[c, thr], need_eq)
        need_eq -= take[c]
        base[c + 1] = base[c] + below + take[c]
    out = np.empty(base[nc], dtype=np.int64)
    for c in nb.prange(nc):
        at = base[c]
        eq = 0
        for r in range(bounds[c], bounds[c + 1]):
            s0 = starts[r]
            o0 = offs[r]
            for t in range(offs[r + 1] - o0):
                d = dist[o0 + t]
                if d < thr or (d == thr and eq < take[c]):
                    if d == thr:
                        eq += 1
                    out[at] = s0 + t
                    at += 1
    return out


@nb.njit(cache=True, nogil=True)
def _threshold(hist: np.ndarray, k: int, max_d: int) -> tuple[int, int]:
    """``(thr, cum)``: where the histogram's running count first reaches ``k``, and that count.

    Every row below ``thr`` is selected, and ``k - (cum - hist[thr])`` of those at ``thr``;
    ``thr = max_d`` when the count never reaches ``k``.
    """
    cum = 0
    for d in range(max_d + 1):
        cum += hist[d]
        if cum >= k:
            return d, cum
    return max_d, cum


@nb.njit(cache=True, nogil=True)
def _select_smallest(dist: np.ndarray, k: int, max_d: int) -> np.ndarray:
    hist = np.zeros(max_d + 2, dtype=np.int64)
    n = dist.shape[0]
    for i in range(n):
        hist[dist[i]] += 1
    thr, cum = _threshold(hist, k, max_d)
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
    codes: npt.NDArray[np.uint64],
    q: npt.NDArray[np.uint64],
    k: int,
    alive: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """Row indices of the ``k`` codes nearest to ``q`` in Hamming distance (unordered).

    Args:
        codes: ``uint64[n, words]`` sign codes.
        q: The query's code ``uint64[words]``.
        k: Candidates wanted (fewer come back when fewer rows are alive).
        alive: ``bool[n]``: rows that may be returned (``None``: all).
    """
    n = codes.shape[0]
    if alive is None:
        if k >= n:
            return np.arange(n, dtype=np.int64)
        dist = np.empty(n, dtype=np.int64)
        _hamming_all(codes, q, dist)
    else:
        if k >= n:
            return np.flatnonzero(alive[:n]).astype(np.int64)
        dist = np.empty(n, dtype=np.int64)
        max_d = codes.shape[1] * 64
        _hamming_alive(codes, alive, q, dist, max_d + 1)
    return np.asarray(_select_smallest(dist, k, codes.shape[1] * 64))


def hamming_candidates_rows(
    codes: npt.NDArray[np.uint64],
    rows: npt.NDArray[np.int64],
    q: npt.NDArray[np.uint64],
    k: int,
    alive: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """Like :func:`hamming_candidates`, restricted to ``rows``; returns row indices."""
    rows = np.asarray(rows, dtype=np.int64)
    if alive is not None:
        rows = rows[alive[rows]]
    if k >= rows.shape[0]:
        return rows
    dist = np.empty(rows.shape[0], dtype=np.int64)
    _hamming_rows(codes, rows, q, dist)
    return rows[_select_smallest(dist, k, codes.shape[1] * 64)]


def hamming_candidates_ranges(
    codes: npt.NDArray[np.uint64],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    q: npt.NDArray[np.uint64],
    k: int,
    alive: npt.NDArray[np.bool_] | None = None,
    order: npt.NDArray[np.int32] | None = None,
    indexed: int = 0,
    chunks: int = 8,
) -> npt.NDArray[np.int64]:
    """The ``k`` codes nearest to ``q`` among row ranges ``[starts[r], starts[r] + lengths[r])``.

    Contiguous ranges (a table's IVF partitions stored one after the other) are read
    sequentially, in ``chunks`` of about equal rows shared by numba's threads. ``alive`` is
    indexed by *position*: row ``s`` of ``codes`` is position ``order[s]`` when ``s <
    indexed``, else position ``s`` (the layout of
    :class:`~lance_spiral.table.state.HotState`'s candidate bits).

    Returns:
        Row indices into ``codes`` (unordered); fewer than ``k`` when fewer rows are alive.
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    offs = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offs[1:])
    total = int(offs[-1])
    if total == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    bounds = np.unique(np.searchsorted(
        offs, np.linspace(0, total, max(1, chunks) + 1), side="left").clip(0, len(starts)))
    bounds[0], bounds[-1] = 0, len(starts)
    dist = np.empty(total, dtype=np.int32)
    no_alive = np.zeros(0, dtype=np.bool_)
    no_order = np.zeros(0, dtype=np.int32)
    return np.asarray(_ranges_select(
        codes, starts, offs, bounds.astype(np.int64), q,
        no_alive if alive is None else alive, no_order if order is None else order,
        int(indexed) if order is not None else 0, int(k), codes.shape[1] * 64, dist))


@nb.njit(cache=True, nogil=True)
def _sign_lut(qp: np.ndarray, out: np.ndarray) -> None:
    for b in range(out.shape[0]):
        out[b, 0] = 0.0
        for v in range(1, 256):
            low = v & -v                      # lowest set bit
            i = 0
            while (1 << i) != low:
                i += 1
            out[b, v] = out[b, v ^ low] + qp[8 * b + i]


def sign_lut(q: npt.NDArray[np.float32], words: int) -> npt.NDArray[np.float32]:
    """Per-byte lookup table ``float32[8 * words, 256]`` of a float query.

    Entry ``[b, v]`` is the sum of the query's coordinates ``8 b + i`` over the bits ``i`` set in
    the byte value ``v`` (little-endian order, as :func:`pack_signs` packs them). Built on the
    calling thread (no BLAS call: see :mod:`lance_spiral.kernels.dense`).
    """
    qp = np.zeros(words * 64, dtype=np.float32)
    qp[: q.shape[0]] = q
    out = np.empty((words * 8, 256), dtype=np.float32)
    _sign_lut(qp, out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _sign_dot_rows(codes: np.ndarray, rows: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:
    w = codes.shape[1]
    for t in nb.prange(rows.shape[0]):
        i = rows[t]
        s = np.float32(0.0)
        for j in range(w):
            word = codes[i, j]
            for b in range(8):
                s += lut[j * 8 + b, (word >> np.uint64(8 * b)) & np.uint64(255)]
        out[t] = s


def sign_dot_rows(
    codes: npt.NDArray[np.uint64], rows: npt.NDArray[np.int64], lut: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Asymmetric scores of the sign codes of ``rows`` against a float query.

    The score is the sum of the query's coordinates where the code's bit is set (``lut`` from
    :func:`sign_lut`).

    ``<q, sign(x - c)> = 2 * score - sum(q)``, so ranking by this score ranks by the estimate
    of ``<q, x - c>`` from one bit per dimension and a float query: much closer to the true order
    than the Hamming distance to the query's own signs.
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty(rows.shape[0], dtype=np.float32)
    _sign_dot_rows(codes, rows, lut, out)
    return out

