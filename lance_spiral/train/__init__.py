"""Distillation of approximator embedders (``[train]`` extra: torch, onnx, sentence-transformers).

Corpus -> vocabulary mining -> teacher targets -> student training -> export to the runtime
format read by :class:`lance_spiral.embed.Approximator`. Importing this package does not import
torch; the functions that need it do.
"""

from lance_spiral.train.distill import TrainConfig
from lance_spiral.train.pipeline import distill_approximator, reexport
from lance_spiral.train.student import StudentConfig

__all__ = ["StudentConfig", "TrainConfig", "distill_approximator", "reexport"]
