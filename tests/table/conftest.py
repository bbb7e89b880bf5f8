"""Fixtures for compressed-table tests: real SciFact vectors as rows."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def docs(scifact_corpus_emb: np.ndarray) -> dict:
    """2,000 real SciFact rows as a dict of columns (id, vector, payload)."""
    n = 2000
    return {
        "id": [f"doc{i}" for i in range(n)],
        "vector": scifact_corpus_emb[:n],
        "year": np.arange(n) % 30 + 1990,
        "title": [f"title {i}" for i in range(n)],
    }
