from __future__ import annotations

import numpy as np

from lance_spiral.kernels import pq as kpq


def _problem(n: int = 500, m: int = 6, ksub: int = 16, dsub: int = 3, seed: int = 0) -> tuple[
    np.ndarray, np.ndarray
]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, m * dsub)).astype(np.float32)
    cb = rng.standard_normal((m, ksub, dsub)).astype(np.float32)
    return x, cb


def test_encode_picks_the_nearest_codeword_of_every_sub_space() -> None:
    x, cb = _problem()
    idx = kpq.encode_indices(x, cb)
    m, _, dsub = cb.shape
    for j in range(m):
        sub = x[:, j * dsub : (j + 1) * dsub].astype(np.float64)
        d = ((sub[:, None, :] - cb[j][None]) ** 2).sum(-1)
        np.testing.assert_allclose(d[np.arange(len(x)), idx[:, j]], d.min(1), rtol=1e-5)


def test_decode_looks_up_the_codewords() -> None:
    x, cb = _problem()
    idx = kpq.encode_indices(x, cb)
    y = kpq.decode_indices(idx, cb)
    m, _, dsub = cb.shape
    for j in range(m):
        np.testing.assert_array_equal(y[:, j * dsub : (j + 1) * dsub], cb[j][idx[:, j]])


def test_update_moves_codewords_to_member_means_and_keeps_empty_ones() -> None:
    x, cb = _problem(ksub=64)
    idx = kpq.encode_indices(x, cb)
    idx[:, 0] = np.where(idx[:, 0] == 5, 6, idx[:, 0])  # codeword 5 of sub-space 0: no members
    new = kpq.update_codebooks(x, idx, cb)
    m, ksub, dsub = cb.shape
    for j in range(m):
        sub = x[:, j * dsub : (j + 1) * dsub].astype(np.float64)
        for c in range(ksub):
            members = idx[:, j] == c
            want = sub[members].mean(0) if members.any() else cb[j, c]
            np.testing.assert_allclose(new[j, c], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(new[0, 5], cb[0, 5])
    # A Lloyd step never raises the quantisation error for fixed assignments.
    err_old = ((x - kpq.decode_indices(idx, cb)) ** 2).sum()
    err_new = ((x - kpq.decode_indices(idx, new)) ** 2).sum()
    assert err_new < err_old
