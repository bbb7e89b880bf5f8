"""Top-k selection against numpy sorting: order, padding, NaN, merge, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lance_spiral.errors import DimensionError, InvalidParameterError
from lance_spiral.kernels.topk import topk, topk_merge


@settings(max_examples=40, deadline=None)
@given(nq=st.integers(1, 4), n=st.integers(1, 300), k=st.integers(1, 20),
       seed=st.integers(0, 2**31))
def test_topk_matches_sort(nq: int, n: int, k: int, seed: int) -> None:
    s = np.random.default_rng(seed).standard_normal((nq, n)).astype(np.float32)
    vals, idx = topk(s, k)
    kk = min(k, n)
    ref = -np.sort(-s, axis=1)[:, :kk]
    np.testing.assert_array_equal(vals[:, :kk], ref)
    np.testing.assert_array_equal(np.take_along_axis(s, idx[:, :kk], axis=1), ref)
    assert (idx[:, kk:] == -1).all() and np.isneginf(vals[:, kk:]).all()


def test_nan_never_selected_and_1d_input() -> None:
    s = np.array([0.1, np.nan, 0.3, 0.2], np.float32)
    _vals, idx = topk(s, 2)
    assert idx.tolist() == [[2, 3]]


def test_merge_maps_global_ids() -> None:
    v = np.array([[0.9, 0.1, 0.5, 0.7]], np.float32)
    ids = np.array([[10, 11, 12, 13]], np.int64)
    _vals, out = topk_merge(v, ids, 3)
    assert out.tolist() == [[10, 13, 12]]
    _, padded = topk_merge(v, ids, 6)
    assert padded[0, 4:].tolist() == [-1, -1]


def test_bad_input() -> None:
    with pytest.raises(InvalidParameterError):
        topk(np.zeros((2, 3), np.float32), 0)
    with pytest.raises(DimensionError):
        topk(np.zeros((2, 3, 4), np.float32), 1)
