"""Numba kernels for RaBitQ-style binary codes: encode rotated residuals, popcount scoring.

Conventions (see :mod:`lance_spiral.codecs.binary` for the estimator):

* ``r`` is a residual already rotated (``(x - center) @ P``); ``norm = ||r||``.
* A code stores ``c_i`` in ``[0, 2**bits)`` per rotated dimension, read as the grid vector
  ``xbar = c - mid`` with ``mid = (2**bits - 1) / 2`` (1 bit: ``xbar = +-1/2``, the sign of
  ``r_i``), plus per-vector float32 factors ``norm`` and ``F = norm**2 / <xbar, r>``. For a rotated
  query ``q'`` the unbiased estimate of ``<r, q'>`` is ``F * <xbar, q'>``.
* 1-bit scoring quantises ``q'`` to ``query_bits`` bits (default 6; ``q' ~ qlo + qd * qq``) and
  computes ``<c, qq> = sum_p 2**p popcount(c & plane_p)`` from the bit planes of ``qq``. On
  WordNet, 6 query bits lifted binary top-100 + SQ8 re-rank recall@10 from .9851 (4 bits) to
  .9862 (float queries: .9863).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from lance_spiral.kernels.bitpack import pack_row, unpack_row
from lance_spiral.kernels.hamming import popcount64
from lance_spiral.kernels.scalar import direct_bits, row_dot

__all__ = [
    "binary_score",
    "grid_decode",
    "multibit_encode",
    "multibit_score",
    "query_planes",
    "sign_encode",
]

_CHUNK = 512
QUERY_BITS = 6


@nb.njit(cache=True, nogil=True, inline="always")
def _load_word(row: np.ndarray, w: int, nbytes: int) -> np.uint64:
    # Little-endian 64-bit word w of a byte row (zero beyond nbytes).
    base = w * 8
    v = np.uint64(0)
    if base + 8 <= nbytes:
        for k in range(8):
            v |= np.uint64(row[base + k]) << np.uint64(8 * k)
    else:
        for k in range(nbytes - base):
            v |= np.uint64(row[base + k]) << np.uint64(8 * k)
    return v


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def sign_encode(r: np.ndarray, out: np.ndarray, factors: np.ndarray) -> None:
    """1-bit codes: sign bits of rotated residuals ``r[n, d]`` into ``out``; ``factors[n, 2]``.

    ``factors[i] = (norm, F)`` with ``F = norm**2 / <xbar, r> = 2 norm**2 / sum|r|``.
    """
    n, d = r.shape
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            row = r[i]
            sq = np.float32(0.0)
            sa = np.float32(0.0)
            for j in range(d):
                v = row[j]
                sq += v * v
                sa += abs(v)
                buf[j] = 1 if v > 0 else 0
            pack_row(buf, 1, out[i])
            factors[i, 0] = np.sqrt(sq)
            factors[i, 1] = 2.0 * sq / sa if sa > 0 else 0.0


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def multibit_encode(
    r: np.ndarray, bits: int, n_scales: int, out: np.ndarray, factors: np.ndarray
) -> None:
    """Encode rotated residuals ``r[n, d]`` as ``bits``-bit grid codes with correction factors.

    The grid scale is chosen per vector to maximise ``cos(xbar, r)`` over ``n_scales``
    candidates; ``factors[n, 3] = (norm, F, cos)``.
    """
    n, d = r.shape
    top = (1 << bits) - 1
    mid = np.float32(top / 2.0)
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        best = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            row = r[i]
            sq = np.float32(0.0)
            amax = np.float32(0.0)
            for j in range(d):
                sq += row[j] * row[j]
                amax = max(amax, abs(row[j]))
            norm = np.sqrt(sq)
            best_cos = np.float32(-1.0)
            best_ip = np.float32(0.0)
            for j in range(d):
                best[j] = np.uint8(int(mid + 0.5)) if row[j] > 0 else np.uint8(int(mid))
            if amax > 0:
                for s in range(n_scales):
                    # Grid step so the largest |r_i| lands between mid+1/2 and the top level.
                    frac = np.float32(0.35) + np.float32(0.65) * np.float32(s) / max(
                        n_scales - 1, 1
                    )
                    inv = mid / (amax * frac) if mid > 0 else np.float32(1.0)
                    ip = np.float32(0.0)
                    nn = np.float32(0.0)
                    for j in range(d):
                        t = row[j] * inv + mid
                        t = min(max(t, np.float32(0.0)), np.float32(top))
                        c = np.int32(t + np.float32(0.5))
                        buf[j] = np.uint8(c)
                        g = np.float32(c) - mid
                        ip += g * row[j]
                        nn += g * g
                    cos = ip / (np.sqrt(nn) * norm) if nn > 0 else np.float32(-1.0)
                    if cos > best_cos:
                        best_cos = cos
                        best_ip = ip
                        for j in range(d):
                            best[j] = buf[j]
            pack_row(best, bits, out[i])
            factors[i, 0] = norm
            factors[i, 1] = sq / best_ip if best_ip > 0 else 0.0
            factors[i, 2] = best_cos if best_cos > 0 else 1.0


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def grid_decode(codes: np.ndarray, bits: int, d: int, factors: np.ndarray, out: np.ndarray) -> None:
    """Least-squares rotated residuals ``out[i] = norm * t * xbar / ||xbar||`` from codes.

    ``factors[i] = (norm, t)``; ``xbar = c - mid`` is read from the packed bytes.
    """
    n = codes.shape[0]
    mid = np.float32(((1 << bits) - 1) / 2.0)
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        buf = np.empty(d, dtype=np.uint8)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            unpack_row(codes[i], bits, d, buf)
            o = out[i]
            nn = np.float32(0.0)
            for j in range(d):
                g = np.float32(buf[j]) - mid
                o[j] = g
                nn += g * g
            scale = factors[i, 0] * factors[i, 1] / np.sqrt(nn) if nn > 0 else np.float32(0.0)
            for j in range(d):
                o[j] *= scale


def query_planes(qq: np.ndarray, nwords: int, query_bits: int = QUERY_BITS) -> np.ndarray:
    """Bit planes ``uint64[nq, query_bits, nwords]`` of quantised query codes ``qq[nq, d]``."""
    nq, d = qq.shape
    out = np.zeros((nq, query_bits, nwords * 64), dtype=np.uint8)
    for p in range(query_bits):
        out[:, p, :d] = (qq >> p) & 1
    packed = np.packbits(out, axis=2, bitorder="little")
    return np.ascontiguousarray(packed.view(np.uint64).reshape(nq, query_bits, nwords))


@nb.njit(cache=True, nogil=True, parallel=True)
def binary_score(
    codes: np.ndarray,
    nbytes: int,
    factors: np.ndarray,
    planes: np.ndarray,
    qlo: np.ndarray,
    qd: np.ndarray,
    qsum: np.ndarray,
    base: np.ndarray,
    qnorm2: np.ndarray,
    l2: bool,
    out: np.ndarray,
) -> None:
    """Score 1-bit codes against bit-plane quantised rotated queries.

    ``est = F * (<c, q'> - qsum / 2)`` with ``<c, q'> = qlo popcount(c) + qd sum_p 2**p
    popcount(c & plane_p)``; ``out = base + est`` (ip) or ``-(qnorm2 + norm**2 - 2 est)`` (l2).
    """
    n = codes.shape[0]
    nq = planes.shape[0]
    nbits = planes.shape[1]
    nwords = planes.shape[2]
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(nchunks):
        words = np.empty(nwords, dtype=np.uint64)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            row = codes[i]
            pc = np.uint64(0)
            for w in range(nwords):
                words[w] = _load_word(row, w, nbytes)
                pc += popcount64(words[w])  # type: ignore[call-arg]
            norm = factors[i, 0]
            f = factors[i, 1]
            for q in range(nq):
                acc = np.uint64(0)
                for p in range(nbits):
                    s = np.uint64(0)
                    for w in range(nwords):
                        s += popcount64(words[w] & planes[q, p, w])  # type: ignore[call-arg]
                    acc += s << np.uint64(p)
                dot = qlo[q] * np.float32(pc) + qd[q] * np.float32(acc)
                est = f * (dot - np.float32(0.5) * qsum[q])
                if l2:
                    out[q, i] = -(qnorm2[q] + norm * norm - 2.0 * est)
                else:
                    out[q, i] = base[q] + est


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def multibit_score(
    codes: np.ndarray,
    nbytes: int,
    bits: int,
    d: int,
    factors: np.ndarray,
    qr: np.ndarray,
    qsum: np.ndarray,
    base: np.ndarray,
    qnorm2: np.ndarray,
    l2: bool,
    out: np.ndarray,
) -> None:
    """Score ``bits``-bit grid codes against float rotated queries ``qr`` (zero-padded).

    ``est = F * (<c, q'> - mid * qsum)``; the output as in :func:`binary_score`.
    """
    n = codes.shape[0]
    nq = qr.shape[0]
    mid = np.float32(((1 << bits) - 1) / 2.0)
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
            norm = factors[i, 0]
            f = factors[i, 1]
            for q in range(nq):
                dot = row_dot(row, qr[q], b, d, buf)
                est = f * (dot - mid * qsum[q])
                if l2:
                    out[q, i] = -(qnorm2[q] + norm * norm - 2.0 * est)
                else:
                    out[q, i] = base[q] + est
