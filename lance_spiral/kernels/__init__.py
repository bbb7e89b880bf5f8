"""Numba kernels: encode/decode, scoring on codes, k-means, top-k selection."""

from lance_spiral.kernels.topk import topk, topk_merge

__all__ = ["topk", "topk_merge"]
