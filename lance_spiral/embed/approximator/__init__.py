"""The approximator's runtime: load a model folder, tokenise, pool, run the ONNX head.

numpy + numba + onnxruntime only, never torch. ``Approximator.load()`` with no folder opens the
general model shipped inside the package (:func:`shipped_model_dir`).
"""

from lance_spiral.embed.approximator.folders import default_model_dir, shipped_model_dir
from lance_spiral.embed.approximator.runtime import Approximator, shared_approximator

__all__ = ["Approximator", "default_model_dir", "shared_approximator", "shipped_model_dir"]
