"""Row gather of code arrays (the re-rank's codes of a query's candidates)."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.kernels.gather import gather_rows


def test_gather_matches_fancy_indexing():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (5000, 384), dtype=np.uint8)
    rows = rng.choice(5000, 700, replace=True).astype(np.int64)
    assert np.array_equal(gather_rows(codes, rows), codes[rows])
    assert gather_rows(codes, rows[:0]).shape == (0, 384)
    with pytest.raises(IndexError):
        gather_rows(codes, np.array([0, 5000]))
    with pytest.raises(IndexError):
        gather_rows(codes, np.array([-1]))
