"""Numba kernels for uniform scalar quantisation: encode, decode and scoring on packed codes.

A dimension ``j`` with range ``lo[j]`` and step ``step[j]`` reconstructs code ``c`` as
``lo[j] + step[j] * c``. Codes are bit-packed as described in :mod:`lance_spiral.kernels.bitpack`.
Scoring never decodes: the inner product is ``q.lo + sum_j (q * step)_j c_j`` and the squared
distance ``sum_j ((q - lo)_j - step_j c_j)^2``, both accumulated straight from the packed bytes.
Query-side arrays passed to the scoring kernels are zero-padded to :func:`padded_dim` so that the
zero bits padding the last byte contribute nothing.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from lance_spiral.kernels.bitpack import pack_row, unpack_row

__all__ = [
    "direct_bits",
    "padded_dim",
    "row_dot",
    "sq_decode",
    "sq_encode",
    "sq_score_ip",
    "sq_score_l2",
]

_CHUNK = 512


def padded_dim(d: int, bits: int) -> int:
    """Length the query-side arrays must be zero-padded to for the scoring kernels."""
    if bits in (8, 4, 2, 1):
        per = 8 // bits
        return ((d + per - 1) // per) * per
    return d


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def sq_encode(
    x: np.ndarray, lo: np.ndarray, inv_step: np.ndarray, bits: int, out: np.ndarray
) -> None:
    """Quantise float32 rows ``x[n, d]`` to nearest codes and pack them into ``out``."""
    n, d = x.shape
    top = np.float32((1 << bits) - 1)
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            row = x[i]
            dst = out[i] if bits == 8 else buf
            for j in range(d):
                t = (row[j] - lo[j]) * inv_step[j]
                t = min(max(t, np.float32(0.0)), top)
                dst[j] = np.uint8(np.int32(t + np.float32(0.5)))
            if bits != 8:
                pack_row(buf, bits, out[i])


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def sq_decode(
    codes: np.ndarray, lo: np.ndarray, step: np.ndarray, bits: int, out: np.ndarray
) -> None:
    """Reconstruct ``out[n, d] = lo + step * c`` from packed codes."""
    n, d = out.shape
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            o = out[i]
            if bits == 8:
                c = codes[i]
                for j in range(d):
                    o[j] = lo[j] + step[j] * np.float32(c[j])
            else:
                unpack_row(codes[i], bits, d, buf)
                for j in range(d):
                    o[j] = lo[j] + step[j] * np.float32(buf[j])


@nb.njit(cache=True, nogil=True, inline="always", fastmath=True)
def row_dot(row: np.ndarray, w: np.ndarray, bits: int, d: int, buf: np.ndarray) -> np.float32:
    """Return ``sum_j w[j] * c_j`` over one packed row (its first ``ceil(d*bits/8)`` bytes).

    ``w`` is zero-padded to :func:`padded_dim`; ``buf`` is ``uint8[d]`` scratch space.
    """
    acc = np.float32(0.0)
    nbytes = (d * bits + 7) // 8
    if bits == 8:
        for j in range(d):
            acc += w[j] * np.float32(row[j])
    elif bits == 4:
        for k in range(nbytes):
            b = row[k]
            acc += w[2 * k] * np.float32(b & 15) + w[2 * k + 1] * np.float32(b >> 4)
    elif bits == 2:
        for k in range(nbytes):
            b = row[k]
            acc += (w[4 * k] * np.float32(b & 3) + w[4 * k + 1] * np.float32((b >> 2) & 3)
                    + w[4 * k + 2] * np.float32((b >> 4) & 3) + w[4 * k + 3] * np.float32(b >> 6))
    else:
        unpack_row(row, bits, d, buf)
        for j in range(d):
            acc += w[j] * np.float32(buf[j])
    return acc


@nb.njit(cache=True, nogil=True, inline="always", fastmath=True)
def _row_l2(
    row: np.ndarray, a: np.ndarray, s: np.ndarray, bits: int, d: int, buf: np.ndarray
) -> np.float32:
    # sum_j (a[j] - s[j] * c_j)^2 with a = q - lo, s = step (both zero-padded).
    acc = np.float32(0.0)
    nbytes = (d * bits + 7) // 8
    if bits == 8:
        for j in range(d):
            t = a[j] - s[j] * np.float32(row[j])
            acc += t * t
    elif bits == 4:
        for k in range(nbytes):
            b = row[k]
            t0 = a[2 * k] - s[2 * k] * np.float32(b & 15)
            t1 = a[2 * k + 1] - s[2 * k + 1] * np.float32(b >> 4)
            acc += t0 * t0 + t1 * t1
    elif bits == 2:
        for k in range(nbytes):
            b = row[k]
            for r in range(4):
                t = a[4 * k + r] - s[4 * k + r] * np.float32((b >> (2 * r)) & 3)
                acc += t * t
    else:
        unpack_row(row, bits, d, buf)
        for j in range(d):
            t = a[j] - s[j] * np.float32(buf[j])
            acc += t * t
    return acc


@nb.njit(cache=True, nogil=True, inline="always")
def direct_bits(bits: int) -> bool:
    """Whether ``row_dot``/``row_l2`` read ``bits``-bit codes straight from the packed bytes.

    Other widths are unpacked once per row (into 8-bit values) before the query loop.
    """
    return bits == 8 or bits == 4 or bits == 2


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def sq_score_ip(
    codes: np.ndarray, w: np.ndarray, base: np.ndarray, bits: int, d: int, out: np.ndarray
) -> None:
    """``out[q, i] = base[q] + sum_j w[q, j] * c_ij`` for packed codes ``c``."""
    n = codes.shape[0]
    nq = w.shape[0]
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        vals = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            row = codes[i]
            b = bits
            if not direct_bits(bits):
                unpack_row(row, bits, d, vals)
                row = vals
                b = 8
            for q in range(nq):
                out[q, i] = base[q] + row_dot(row, w[q], b, d, buf)


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def sq_score_l2(
    codes: np.ndarray, a: np.ndarray, s: np.ndarray, bits: int, d: int, out: np.ndarray
) -> None:
    """``out[q, i] = -sum_j (a[q, j] - s[j] * c_ij)^2`` (negative squared L2, higher is better)."""
    n = codes.shape[0]
    nq = a.shape[0]
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        vals = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            row = codes[i]
            b = bits
            if not direct_bits(bits):
                unpack_row(row, bits, d, vals)
                row = vals
                b = 8
            for q in range(nq):
                out[q, i] = -_row_l2(row, a[q], s, b, d, buf)
