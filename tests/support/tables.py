"""Helpers shared by the compressed-table tests."""

from __future__ import annotations

import numpy as np


def rows(vectors: np.ndarray, start: int = 0) -> list[dict]:
    """Rows as a list of dicts (the adapters' style)."""
    return [{"id": f"doc{start + i}", "vector": v, "year": 1990 + (start + i) % 30,
             "title": f"title {start + i}"} for i, v in enumerate(vectors)]


def exact_top(q: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Exact cosine top-k positions."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.argsort(-(np.atleast_2d(qn) @ xn.T), axis=1)[:, :k]
