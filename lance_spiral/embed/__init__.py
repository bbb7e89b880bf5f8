"""Embedders: the approximator, a Bedrock Titan client, caches, and the protocol they share.

The approximator runs on numpy + numba + onnxruntime; its training lives apart, in
:mod:`lance_spiral.train`.
"""

from lance_spiral.embed.approximator import Approximator, default_model_dir
from lance_spiral.embed.bedrock import BedrockEmbedder
from lance_spiral.embed.cache import CachedEmbedder, TieredCache
from lance_spiral.embed.protocol import Embedder, check_texts

__all__ = [
    "Approximator",
    "BedrockEmbedder",
    "CachedEmbedder",
    "Embedder",
    "TieredCache",
    "check_texts",
    "default_model_dir",
]
