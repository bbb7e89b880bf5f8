"""Numba kernels: encode/decode, scoring on codes, k-means, top-k selection."""

from lance_spiral.kernels.kmeans import assign, kmeans
from lance_spiral.kernels.topk import topk, topk_merge

__all__ = ["assign", "kmeans", "topk", "topk_merge"]
