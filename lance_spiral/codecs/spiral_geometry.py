"""The spiral's geometry: a spiral parametrisation of 2-D points, the PCA plane, walk lengths.

Shared by the spiral codec (:mod:`.spiral`: anchor order, storage order) and its ordering report.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["nn_chain", "pca_plane", "prev_ratio", "spiral_param"]


def spiral_param(p2: npt.NDArray[np.float64], spiral_constant: float) -> npt.NDArray[np.float64]:
    """Position of 2-D points along an Archimedean spiral ``r = b * t``.

    ``b = spiral_constant * median(r) / (2 pi)`` makes the spiral scale-free: with
    ``spiral_constant=1`` one turn spans the median radius. Each point goes to the nearest arm.

    Args:
        p2: ``[n, 2]`` points (e.g. projections on a PCA plane).
        spiral_constant: Arm spacing relative to the median radius (> 0).

    Returns:
        ``float64[n]`` spiral parameter ``t`` (sort by it to walk the spiral).
    """
    r = np.hypot(p2[:, 0], p2[:, 1])
    theta = np.mod(np.arctan2(p2[:, 1], p2[:, 0]), 2 * np.pi)
    med = float(np.median(r)) if r.size else 1.0
    b = spiral_constant * (med if med > 0 else 1.0) / (2 * np.pi)
    turn = np.rint((r / b - theta) / (2 * np.pi))
    return theta + 2 * np.pi * turn


def pca_plane(x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32],
                                                   npt.NDArray[np.float32]]:
    """Mean and the two leading principal directions (``[2, dim]``) of the rows of ``x``."""
    mean = x.mean(axis=0)
    if x.shape[0] < 2:
        plane = np.zeros((2, x.shape[1]), dtype=np.float32)
        plane[0, 0] = 1.0
        if x.shape[1] > 1:
            plane[1, 1] = 1.0
        return mean.astype(np.float32), plane
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    plane = np.zeros((2, x.shape[1]), dtype=np.float32)
    plane[: min(2, vt.shape[0])] = vt[:2]
    return mean.astype(np.float32), plane


def prev_ratio(x: npt.NDArray[np.float32], order: npt.NDArray[np.int64],
               norms: npt.NDArray[np.float32]) -> float:
    """Mean distance to the previous vector in ``order``, relative to the vector's norm."""
    xs = x[order]
    d = np.linalg.norm(xs[1:] - xs[:-1], axis=1)
    return float(np.mean(d / np.maximum(norms[order][1:], 1e-12)))


def nn_chain(x: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Greedy nearest-unvisited-neighbour walk from row 0 (one BLAS product per step)."""
    n = x.shape[0]
    sqn = np.einsum("ij,ij->i", x, x)
    visited = np.zeros(n, dtype=bool)
    order = np.empty(n, dtype=np.int64)
    cur = 0
    for step in range(n):  # O(n^2 d) on a small sample: one vectorised row op per step
        order[step] = cur
        visited[cur] = True
        if step + 1 == n:
            break
        d = sqn - 2.0 * (x @ x[cur])
        d[visited] = np.inf
        cur = int(np.argmin(d))
    return order
