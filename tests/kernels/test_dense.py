"""Per-query dense products on real centroid-like rows, against numpy."""

from __future__ import annotations

import numpy as np

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.dense import dot_rows, neg_sq_dist_rows


def test_products_match_numpy(wordnet_sample, wordnet_queries):
    a = normalize_rows(wordnet_sample[:2048])
    for q in wordnet_queries[:5]:
        assert np.allclose(dot_rows(a, q), a @ q, atol=1e-5)
        assert np.allclose(neg_sq_dist_rows(a, q), -((a - q[None, :]) ** 2).sum(axis=1),
                           atol=1e-4)
    # not contiguous / float64 input is converted, empty input gives an empty answer
    assert np.allclose(dot_rows(a[::2].astype(np.float64), wordnet_queries[0]),
                       a[::2] @ wordnet_queries[0], atol=1e-5)
    assert dot_rows(a[:0], wordnet_queries[0]).shape == (0,)
