"""Scalar-quantisation kernels against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.kernels.bitpack import pack_bits, packed_bytes
from lance_spiral.kernels.scalar import (
    padded_dim,
    sq_decode,
    sq_encode,
    sq_score_ip,
    sq_score_l2,
)


@pytest.mark.parametrize("bits", [8, 6, 4, 3, 2])
@pytest.mark.parametrize("d", [1, 5, 33, 384])
def test_kernels_match_numpy(bits: int, d: int) -> None:
    rng = np.random.default_rng(bits * 1000 + d)
    x = rng.standard_normal((700, d)).astype(np.float32)  # > one 512-row chunk
    lo = np.full(d, -2.0, np.float32)
    step = np.full(d, 4.0 / ((1 << bits) - 1), np.float32)
    step[0] = 0.0  # a constant dimension
    inv = np.where(step > 0, 1 / np.where(step > 0, step, 1), 0).astype(np.float32)
    ref_codes = np.clip(np.floor((x - lo) * inv + 0.5), 0, (1 << bits) - 1).astype(np.uint8)
    codes = np.zeros((700, packed_bytes(d, bits)), np.uint8)
    sq_encode(x, lo, inv, bits, codes)
    assert np.array_equal(codes, pack_bits(ref_codes, bits))
    out = np.empty((700, d), np.float32)
    sq_decode(codes, lo, step, bits, out)
    xhat = lo + step * ref_codes
    np.testing.assert_allclose(out, xhat, atol=1e-6)
    q = rng.standard_normal((3, d)).astype(np.float32)
    pd = padded_dim(d, bits)
    w = np.zeros((3, pd), np.float32)
    w[:, :d] = q * step
    s = np.empty((3, 700), np.float32)
    sq_score_ip(codes, w, (q @ lo).astype(np.float32), bits, d, s)
    np.testing.assert_allclose(s, q @ xhat.T, rtol=1e-4, atol=1e-3)
    a = np.zeros((3, pd), np.float32)
    a[:, :d] = q - lo
    sp = np.zeros(pd, np.float32)
    sp[:d] = step
    sq_score_l2(codes, a, sp, bits, d, s)
    ref = -((q[:, None, :] - xhat[None]) ** 2).sum(-1)
    np.testing.assert_allclose(s, ref, rtol=1e-4, atol=1e-3)
