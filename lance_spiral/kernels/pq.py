"""Product-quantisation kernels in numba: encode, decode, lookup tables, ADC and fast-scan.

Layouts used here:

* *indices* ``uint8[n, m]``: one sub-quantiser index per byte (8-bit PQ, and 4-bit PQ before
  packing).
* *packed 4-bit* ``uint8[n, ceil(m/2)]``: sub-quantiser ``2p`` in the low nibble of byte ``p``,
  ``2p+1`` in the high nibble. Scored by pairing the two 16-entry tables of a byte into one
  256-entry table, so 4-bit ADC costs one lookup per byte, like 8-bit ADC.
* *fast-scan blocks* ``uint8[n_blocks, n_bytes, 32]``: packed codes transposed in blocks of 32
  vectors, so a scan reads one byte column of 32 codes from one cache line while the pair table
  (``uint16[256]``, built from per-sub-quantiser ``uint8`` tables) stays in L1. Numba cannot
  emit ``pshufb`` in-register lookups; this is the closest it gets: small integer tables and
  ``uint16`` accumulation over a blocked layout.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

from lance_spiral.kernels.kmeans import cluster_sums

__all__ = [
    "FASTSCAN_BLOCK",
    "adc_scan",
    "decode_indices",
    "encode_indices",
    "fastscan_pack",
    "fastscan_scan",
    "lookup_tables",
    "pack_nibbles",
    "pair_tables",
    "quantize_tables",
    "unpack_nibbles",
    "update_codebooks",
]

FASTSCAN_BLOCK = 32


@nb.njit(cache=True, nogil=True, parallel=True)
def _encode(x: np.ndarray, cbt: np.ndarray, out: np.ndarray) -> None:
    # cbt: codebooks transposed [m, dsub, ksub] so the inner loop over centroids vectorises.
    n = x.shape[0]
    m, dsub, ksub = cbt.shape
    n_chunks = (n + 127) // 128
    for ch in nb.prange(n_chunks):
        s = np.empty(ksub, dtype=np.float32)
        for i in range(ch * 128, min(n, ch * 128 + 128)):
            for j in range(m):
                for c in range(ksub):
                    s[c] = 0.0
                for t in range(dsub):
                    xv = x[i, j * dsub + t]
                    for c in range(ksub):
                        diff = xv - cbt[j, t, c]
                        s[c] += diff * diff
                best = s[0]
                bc = 0
                for c in range(1, ksub):
                    if s[c] < best:
                        best = s[c]
                        bc = c
                out[i, j] = bc


def encode_indices(
    x: npt.NDArray[np.float32], codebooks: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    """Nearest codeword per sub-vector: ``x[n, m*dsub]`` -> ``uint8[n, m]`` indices."""
    m = codebooks.shape[0]
    out = np.empty((x.shape[0], m), dtype=np.uint8)
    _encode(np.ascontiguousarray(x), np.ascontiguousarray(codebooks.transpose(0, 2, 1)), out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _update(x: np.ndarray, idx: np.ndarray, cb: np.ndarray, out: np.ndarray) -> None:
    m, ksub, dsub = cb.shape
    for j in nb.prange(m):
        sums, counts = cluster_sums(x[:, j * dsub : (j + 1) * dsub], idx[:, j], ksub)
        for c in range(ksub):
            for t in range(dsub):
                out[j, c, t] = sums[c, t] / counts[c] if counts[c] > 0 else cb[j, c, t]


def update_codebooks(
    x: npt.NDArray[np.float32], idx: npt.NDArray[np.uint8], codebooks: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """One Lloyd update of every sub-quantiser from known assignments.

    Each codeword becomes the mean of the sub-vectors of ``x[n, m*dsub]`` assigned to it by
    ``idx`` (``uint8[n, m]``, e.g. from :func:`encode_indices`); codewords with no members keep
    their value. ``O(n * m * dsub)``: one pass over ``x``, no distance computations.
    """
    out = np.empty_like(codebooks)
    _update(np.ascontiguousarray(x), np.ascontiguousarray(idx), codebooks, out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _decode(idx: np.ndarray, cb: np.ndarray, out: np.ndarray) -> None:
    n, m = idx.shape
    dsub = cb.shape[2]
    for i in nb.prange(n):
        for j in range(m):
            c = idx[i, j]
            for t in range(dsub):
                out[i, j * dsub + t] = cb[j, c, t]


def decode_indices(
    idx: npt.NDArray[np.uint8], codebooks: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Reconstruct ``float32[n, m*dsub]`` from indices ``uint8[n, m]``."""
    m, _, dsub = codebooks.shape
    out = np.empty((idx.shape[0], m * dsub), dtype=np.float32)
    _decode(np.ascontiguousarray(idx), codebooks, out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _pack(idx: np.ndarray, out: np.ndarray) -> None:
    n, m = idx.shape
    for i in nb.prange(n):
        for p in range(out.shape[1]):
            lo = idx[i, 2 * p] & 15
            hi = idx[i, 2 * p + 1] & 15 if 2 * p + 1 < m else 0
            out[i, p] = lo | (hi << 4)


def pack_nibbles(idx: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Pack 4-bit indices ``uint8[n, m]`` two per byte -> ``uint8[n, ceil(m/2)]``."""
    out = np.empty((idx.shape[0], (idx.shape[1] + 1) // 2), dtype=np.uint8)
    _pack(np.ascontiguousarray(idx), out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _unpack(packed: np.ndarray, m: int, out: np.ndarray) -> None:
    for i in nb.prange(packed.shape[0]):
        for j in range(m):
            b = packed[i, j >> 1]
            out[i, j] = (b >> 4) if j & 1 else (b & 15)


def unpack_nibbles(packed: npt.NDArray[np.uint8], m: int) -> npt.NDArray[np.uint8]:
    """Inverse of :func:`pack_nibbles`: ``uint8[n, ceil(m/2)]`` -> ``uint8[n, m]``."""
    out = np.empty((packed.shape[0], m), dtype=np.uint8)
    _unpack(np.ascontiguousarray(packed), m, out)
    return out


def lookup_tables(
    q: npt.NDArray[np.float32], codebooks: npt.NDArray[np.float32], metric: str
) -> npt.NDArray[np.float32]:
    """Per-query ADC tables ``float32[nq, m, ksub]`` (higher is better).

    ``ip``/``cosine``: ``q_j . c``; ``l2``: ``-|q_j - c|^2`` (so the row sum is ``-|q - x^|^2``).
    """
    m, _, dsub = codebooks.shape
    qs = q.reshape(q.shape[0], m, dsub)
    dots = np.einsum("qmd,mkd->qmk", qs, codebooks, optimize=True)
    if metric == "l2":
        cn = np.einsum("mkd,mkd->mk", codebooks, codebooks)
        qn = np.einsum("qmd,qmd->qm", qs, qs)
        dots = -(qn[:, :, None] - 2.0 * dots + cn[None])
    return np.ascontiguousarray(dots, dtype=np.float32)


def pair_tables(luts: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Combine 16-entry tables of sub-quantisers ``2p, 2p+1`` into 256-entry byte tables.

    ``luts[nq, m, 16]`` -> ``float32[nq, ceil(m/2), 256]`` where entry ``b`` of table ``p`` is
    ``luts[2p, b & 15] + luts[2p+1, b >> 4]`` (a missing odd partner contributes 0).
    """
    nq, m, _ = luts.shape
    if m % 2:
        luts = np.concatenate([luts, np.zeros((nq, 1, 16), dtype=luts.dtype)], axis=1)
    lo = luts[:, 0::2, :]
    hi = luts[:, 1::2, :]
    pair = lo[:, :, None, :] + hi[:, :, :, None]  # [nq, p, hi, lo] -> byte = hi*16 + lo
    return np.ascontiguousarray(pair.reshape(nq, -1, 256), dtype=np.float32)


@nb.njit(cache=True, nogil=True, parallel=True)
def _adc(luts: np.ndarray, codes: np.ndarray, out: np.ndarray) -> None:
    nq, m, _ = luts.shape
    n = codes.shape[0]
    block = 1024
    n_blocks = (n + block - 1) // block
    for b in nb.prange(n_blocks):
        lo = b * block
        hi = min(n, lo + block)
        for q in range(nq):
            for i in range(lo, hi):
                s = np.float32(0.0)
                for j in range(m):
                    s += luts[q, j, codes[i, j]]
                out[q, i] = s


def adc_scan(
    luts: npt.NDArray[np.float32], codes: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float32]:
    """Asymmetric distance computation: ``out[q, i] = sum_j luts[q, j, codes[i, j]]``."""
    out = np.empty((luts.shape[0], codes.shape[0]), dtype=np.float32)
    _adc(np.ascontiguousarray(luts), np.ascontiguousarray(codes), out)
    return out


def quantize_tables(
    luts: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Quantise float tables ``[nq, m, 16]`` to ``uint8`` with one scale per query.

    Returns ``(qluts uint8[nq, m, 16], bias float32[nq], scale float32[nq])`` such that
    ``sum_j luts[j, c_j] ~= bias + scale * sum_j qluts[j, c_j]``.
    """
    mins = luts.min(axis=2, keepdims=True)
    shifted = luts - mins
    # Each table fits a byte, and the sum over all tables must fit the uint16 accumulator.
    total = shifted.max(axis=2).sum(axis=1)
    scale = np.maximum(shifted.max(axis=(1, 2)) / 255.0, total / 65000.0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.rint(shifted / scale[:, None, None])
    qluts = np.clip(q, 0, 255).astype(np.uint8)
    bias = mins.sum(axis=(1, 2)).astype(np.float32)
    return qluts, bias, scale


@nb.njit(cache=True, nogil=True, parallel=True)
def _fs_pack(packed: np.ndarray, out: np.ndarray) -> None:
    n, nbytes = packed.shape
    for b in nb.prange(out.shape[0]):
        for v in range(FASTSCAN_BLOCK):
            i = b * FASTSCAN_BLOCK + v
            if i < n:
                for p in range(nbytes):
                    out[b, p, v] = packed[i, p]


def fastscan_pack(packed: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Transpose packed 4-bit codes ``uint8[n, nb]`` into blocks ``uint8[ceil(n/32), nb, 32]``.

    Rows past ``n`` in the last block are zero (their scores are discarded by the caller).
    """
    n, nbytes = packed.shape
    out = np.zeros(((n + FASTSCAN_BLOCK - 1) // FASTSCAN_BLOCK, nbytes, FASTSCAN_BLOCK),
                   dtype=np.uint8)
    _fs_pack(np.ascontiguousarray(packed), out)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def _fs_scan(tables: np.ndarray, blocks: np.ndarray, out: np.ndarray) -> None:
    nq, nbytes, _ = tables.shape
    n_blocks = blocks.shape[0]
    for b in nb.prange(n_blocks):
        acc = np.empty(FASTSCAN_BLOCK, dtype=np.uint16)
        for q in range(nq):
            for v in range(FASTSCAN_BLOCK):
                acc[v] = 0
            for p in range(nbytes):
                for v in range(FASTSCAN_BLOCK):
                    acc[v] += tables[q, p, blocks[b, p, v]]
            for v in range(FASTSCAN_BLOCK):
                out[q, b * FASTSCAN_BLOCK + v] = acc[v]


def fastscan_scan(
    qluts: npt.NDArray[np.uint8], blocks: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint16]:
    """Score fast-scan blocks from quantised tables: ``uint16[nq, n_blocks*32]`` raw sums.

    Args:
        qluts: ``uint8[nq, m, 16]`` quantised tables (see :func:`quantize_tables`).
        blocks: ``uint8[n_blocks, ceil(m/2), 32]`` from :func:`fastscan_pack`.

    Returns:
        Raw ``uint16`` sums; the score estimate is ``bias + scale * raw``.
    """
    nq, m, _ = qluts.shape
    if m % 2:
        qluts = np.concatenate([qluts, np.zeros((nq, 1, 16), dtype=np.uint8)], axis=1)
    lo = qluts[:, 0::2, :].astype(np.uint16)
    hi = qluts[:, 1::2, :].astype(np.uint16)
    tables = np.ascontiguousarray((lo[:, :, None, :] + hi[:, :, :, None]).reshape(nq, -1, 256))
    out = np.empty((nq, blocks.shape[0] * FASTSCAN_BLOCK), dtype=np.uint16)
    _fs_scan(tables, np.ascontiguousarray(blocks), out)
    return out
