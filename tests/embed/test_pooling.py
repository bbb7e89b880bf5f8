from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.embed.pooling import pool_folded
from lance_spiral.errors import InvalidInputError


def reference(flat, offsets, feats, logits) -> np.ndarray:
    heads = logits.shape[1]
    dh = feats.shape[1] // heads
    out = np.zeros((len(offsets) - 1, feats.shape[1]), np.float32)
    for b in range(len(offsets) - 1):
        ids = flat[offsets[b] : offsets[b + 1]]
        if len(ids) == 0:
            continue
        for h in range(heads):
            lg = logits[ids, h]
            w = np.exp(lg - lg.max())
            w /= w.sum()
            out[b, h * dh : (h + 1) * dh] = w @ feats[ids, h * dh : (h + 1) * dh]
    return out


def test_pool_matches_reference_and_is_order_free() -> None:
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((50, 12)).astype(np.float32)
    logits = rng.standard_normal((50, 3)).astype(np.float32)
    flat = rng.integers(1, 50, 40)
    offsets = np.array([0, 5, 5, 17, 40])
    got = pool_folded(flat, offsets, feats, logits)
    assert np.allclose(got, reference(flat, offsets, feats, logits), atol=1e-5)
    assert np.allclose(got[1], 0)
    shuffled = flat.copy()
    shuffled[17:40] = shuffled[17:40][::-1]
    assert np.allclose(pool_folded(shuffled, offsets, feats, logits)[3], got[3], atol=1e-5)


def test_pool_rejects_bad_input() -> None:
    feats = np.zeros((5, 4), np.float32)
    logits = np.zeros((5, 3), np.float32)
    with pytest.raises(InvalidInputError):
        pool_folded(np.array([1]), np.array([0, 1]), feats, logits)
    with pytest.raises(InvalidInputError):
        pool_folded(np.array([9]), np.array([0, 1]), feats, np.zeros((5, 2), np.float32))
    with pytest.raises(InvalidInputError):
        pool_folded(np.array([1, 2]), np.array([0, 1]), feats, np.zeros((5, 2), np.float32))
