"""Binary kernels: popcount scoring against a numpy reference of the 4-bit query estimator."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.kernels.binary import binary_score, query_planes, sign_encode
from lance_spiral.kernels.bitpack import unpack_bits


@pytest.mark.parametrize("d", [1, 63, 64, 65, 200, 384])
def test_popcount_score_matches_numpy(d: int) -> None:
    rng = np.random.default_rng(d)
    r = rng.standard_normal((600, d)).astype(np.float32)
    nb = -(-d // 8)
    packed = np.zeros((600, nb + 8), np.uint8)  # trailing bytes mimic the stored factors
    factors = np.zeros((600, 2), np.float32)
    bits = np.zeros((600, nb), np.uint8)
    sign_encode(r, bits, factors)
    packed[:, :nb] = bits
    c = unpack_bits(bits, 1, d).astype(np.float64)
    assert np.array_equal(c, (r > 0).astype(np.float64))
    np.testing.assert_allclose(factors[:, 0], np.linalg.norm(r, axis=1), rtol=1e-5)
    np.testing.assert_allclose(factors[:, 1], 2 * (r**2).sum(1) / np.abs(r).sum(1), rtol=1e-4)
    qq = rng.integers(0, 16, (3, d)).astype(np.uint8)
    planes = query_planes(qq, (d + 63) // 64)
    qlo = np.array([-1.0, 0.0, 0.5], np.float32)
    qd = np.array([0.1, 0.2, 0.05], np.float32)
    qf = qlo[:, None] + qd[:, None] * qq
    qsum = qf.sum(1).astype(np.float32)
    base = np.array([1.0, 2.0, 3.0], np.float32)
    qn2 = np.array([4.0, 5.0, 6.0], np.float32)
    out = np.empty((3, 600), np.float32)
    est = factors[:, 1][None, :] * (qf @ c.T - 0.5 * qsum[:, None])
    binary_score(packed, nb, factors, planes, qlo, qd, qsum, base, qn2, False, out)
    np.testing.assert_allclose(out, base[:, None] + est, rtol=1e-4, atol=1e-3)
    binary_score(packed, nb, factors, planes, qlo, qd, qsum, base, qn2, True, out)
    ref = -(qn2[:, None] + factors[:, 0][None, :] ** 2 - 2 * est)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)
