"""Helpers shared by the codec tests (oracles and the list of H1 codec specs)."""

from __future__ import annotations

import numpy as np

# Every H1 codec spec, with the extra-bits binary variants.
H1_SPECS = [
    "sq:bits=8",
    "sq:bits=6",
    "sq:bits=4",
    "sq:bits=2",
    "binary",
    "binary:bits=2",
    "binary:bits=5",
    "float16",
    "lossless",
]
METRICS = ["ip", "cosine", "l2"]


def exact_scores(q: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    """Exact higher-is-better scores, the oracle for every recall claim."""
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    if metric == "l2":
        q64, x64 = q.astype(np.float64), x.astype(np.float64)
        return -((q64**2).sum(1)[:, None] - 2 * q64 @ x64.T + (x64**2).sum(1)[None, :])
    return q.astype(np.float64) @ x.astype(np.float64).T
