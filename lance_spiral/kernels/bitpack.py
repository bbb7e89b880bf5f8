"""Bit packing of small unsigned integers (1..8 bits each) into byte rows, in numba.

Layout (shared by every packed codec): the values of one row form a little-endian bit stream;
value ``j`` occupies bits ``[j*bits, (j+1)*bits)``, least significant bit first. So 4-bit codes
hold two values per byte (low nibble first), 2-bit codes four per byte, 6-bit codes four values
in three bytes, and 8-bit codes are the values themselves. A row of ``d`` values takes
``ceil(d * bits / 8)`` bytes; unused high bits of the last byte are zero.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

from lance_spiral._validation import check_int
from lance_spiral.errors import CorruptDataError, DimensionError, DTypeError

__all__ = ["pack_bits", "packed_bytes", "unpack_bits"]


def packed_bytes(d: int, bits: int) -> int:
    """Bytes taken by ``d`` values of ``bits`` bits each: ``ceil(d * bits / 8)``."""
    return (d * bits + 7) // 8


@nb.njit(cache=True, nogil=True, inline="always")
def pack_row(vals: np.ndarray, bits: int, out: np.ndarray) -> None:
    """Pack one row of values (< 2**bits) into ``out`` (bit-stream layout above)."""
    if bits == 8:
        for j in range(vals.shape[0]):
            out[j] = vals[j]
        return
    n = vals.shape[0]
    if bits == 4:
        for k in range(n // 2):
            out[k] = vals[2 * k] | (vals[2 * k + 1] << 4)
        if n % 2:
            out[n // 2] = vals[n - 1]
        return
    if bits == 2:
        for k in range(n // 4):
            out[k] = (vals[4 * k] | (vals[4 * k + 1] << 2) | (vals[4 * k + 2] << 4)
                      | (vals[4 * k + 3] << 6))
        if n % 4:
            b = np.uint8(0)
            for j in range(n - n % 4, n):
                b |= vals[j] << ((j % 4) * 2)
            out[n // 4] = b
        return
    if bits == 1:
        for k in range(n // 8):
            b = np.uint8(0)
            for r in range(8):
                b |= vals[8 * k + r] << r
            out[k] = b
        if n % 8:
            b = np.uint8(0)
            for j in range(n - n % 8, n):
                b |= vals[j] << (j % 8)
            out[n // 8] = b
        return
    acc = np.uint32(0)
    nacc = 0
    pos = 0
    start = 0
    if bits == 6:  # four values in three bytes
        ng = vals.shape[0] // 4
        for g in range(ng):
            w = (np.uint32(vals[4 * g]) | (np.uint32(vals[4 * g + 1]) << np.uint32(6))
                 | (np.uint32(vals[4 * g + 2]) << np.uint32(12))
                 | (np.uint32(vals[4 * g + 3]) << np.uint32(18)))
            out[3 * g] = np.uint8(w & np.uint32(255))
            out[3 * g + 1] = np.uint8((w >> np.uint32(8)) & np.uint32(255))
            out[3 * g + 2] = np.uint8(w >> np.uint32(16))
        start = 4 * ng
        pos = 3 * ng
    for j in range(start, vals.shape[0]):
        acc |= np.uint32(vals[j]) << np.uint32(nacc)
        nacc += bits
        while nacc >= 8:
            out[pos] = np.uint8(acc & np.uint32(255))
            pos += 1
            acc >>= np.uint32(8)
            nacc -= 8
    if nacc > 0:
        out[pos] = np.uint8(acc & np.uint32(255))


@nb.njit(cache=True, nogil=True, inline="always")
def unpack_row(codes: np.ndarray, bits: int, d: int, out: np.ndarray) -> None:
    """Unpack ``d`` values of ``bits`` bits from one packed row into ``out``."""
    if bits == 8:
        for j in range(d):
            out[j] = codes[j]
        return
    if bits == 4:
        for j in range(d):
            out[j] = (codes[j >> 1] >> ((j & 1) * 4)) & 15
        return
    if bits == 2:
        for j in range(d):
            out[j] = (codes[j >> 2] >> ((j & 3) * 2)) & 3
        return
    if bits == 1:
        for j in range(d):
            out[j] = (codes[j >> 3] >> (j & 7)) & 1
        return
    mask = np.uint32((1 << bits) - 1)
    nbytes = codes.shape[0]
    start = 0
    if bits == 6:
        ng = d // 4
        for g in range(ng):
            w = (np.uint32(codes[3 * g]) | (np.uint32(codes[3 * g + 1]) << np.uint32(8))
                 | (np.uint32(codes[3 * g + 2]) << np.uint32(16)))
            out[4 * g] = w & mask
            out[4 * g + 1] = (w >> np.uint32(6)) & mask
            out[4 * g + 2] = (w >> np.uint32(12)) & mask
            out[4 * g + 3] = w >> np.uint32(18)
        start = 4 * ng
    for j in range(start, d):
        bit = j * bits
        b = bit >> 3
        w = np.uint32(codes[b])
        if b + 1 < nbytes:
            w |= np.uint32(codes[b + 1]) << np.uint32(8)
        out[j] = (w >> np.uint32(bit & 7)) & mask


# Serial: the codecs pack/unpack inside their own parallel kernels; these batch helpers serve
# tests and tools, where a parallel kernel's compile time would not pay off.
@nb.njit(cache=True, nogil=True)
def _pack_batch(vals: np.ndarray, bits: int, out: np.ndarray) -> None:
    for i in range(vals.shape[0]):
        pack_row(vals[i], bits, out[i])


@nb.njit(cache=True, nogil=True)
def _unpack_batch(codes: np.ndarray, bits: int, d: int, out: np.ndarray) -> None:
    for i in range(codes.shape[0]):
        unpack_row(codes[i], bits, d, out[i])


def pack_bits(values: npt.NDArray[np.uint8], bits: int) -> npt.NDArray[np.uint8]:
    """Pack ``uint8[n, d]`` values, each below ``2**bits``, into ``uint8[n, ceil(d*bits/8)]``.

    Args:
        values: The values to pack (C-contiguous copy taken when needed).
        bits: Bits per value, 1..8.

    Returns:
        The packed rows.

    Raises:
        DTypeError: ``values`` is not uint8.
        DimensionError: ``values`` is not 2-D.
        InvalidParameterError: ``bits`` outside 1..8, or a value does not fit in ``bits``.
    """
    check_int(bits, "bits", lo=1, hi=8)
    v = _check_u8_2d(values, "values")
    if bits < 8 and v.size and int(v.max()) >= (1 << bits):
        from lance_spiral.errors import InvalidParameterError

        raise InvalidParameterError(f"values must be < 2**bits = {1 << bits}, got {v.max()}")
    out = np.zeros((v.shape[0], packed_bytes(v.shape[1], bits)), dtype=np.uint8)
    _pack_batch(v, bits, out)
    return out


def unpack_bits(codes: npt.NDArray[np.uint8], bits: int, d: int) -> npt.NDArray[np.uint8]:
    """Inverse of :func:`pack_bits`: ``uint8[n, ceil(d*bits/8)]`` -> ``uint8[n, d]``.

    Raises:
        DTypeError: ``codes`` is not uint8.
        CorruptDataError: Row width does not match ``d`` and ``bits``.
    """
    check_int(bits, "bits", lo=1, hi=8)
    check_int(d, "d", lo=1)
    c = _check_u8_2d(codes, "codes")
    if c.shape[1] != packed_bytes(d, bits):
        raise CorruptDataError(
            f"codes have {c.shape[1]} bytes per row, expected {packed_bytes(d, bits)}"
            f" for d={d} at {bits} bits"
        )
    out = np.empty((c.shape[0], d), dtype=np.uint8)
    _unpack_batch(c, bits, d, out)
    return out


def _check_u8_2d(a: object, name: str) -> npt.NDArray[np.uint8]:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint8:
        raise DTypeError(f"{name} must be a uint8 numpy array")
    if a.ndim != 2:
        raise DimensionError(f"{name} must be 2-D, got shape {a.shape}")
    return np.ascontiguousarray(a)
