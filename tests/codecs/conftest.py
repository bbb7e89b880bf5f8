"""Fixtures for the codec tests: exact ground truth on real SciFact embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.kernels.topk import topk
from tests.support.codecs import METRICS, exact_scores


@pytest.fixture(scope="session")
def scifact_gt(
    scifact_corpus_emb: np.ndarray, scifact_query_emb: np.ndarray
) -> dict[str, np.ndarray]:
    """Exact top-100 per metric for the SciFact queries against the SciFact corpus."""
    out = {}
    for m in METRICS:
        s = exact_scores(scifact_query_emb, scifact_corpus_emb, m).astype(np.float32)
        out[m] = topk(s, 100)[1]
    return out
