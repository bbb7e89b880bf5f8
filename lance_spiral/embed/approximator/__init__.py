"""The approximator's runtime: load a model folder, tokenise, pool, run the ONNX head.

numpy + numba + onnxruntime only, never torch.
"""

from lance_spiral.embed.approximator.runtime import (
    Approximator,
    default_model_dir,
    shared_approximator,
)

__all__ = ["Approximator", "default_model_dir", "shared_approximator"]
