"""Embedders: the approximator (distilled DeepSets, ONNX), a Bedrock Titan client, caches."""

from lance_spiral.embed.approximator import Approximator, default_model_dir
from lance_spiral.embed.bedrock import BedrockEmbedder
from lance_spiral.embed.cache import CachedEmbedder, TieredCache

__all__ = [
    "Approximator",
    "BedrockEmbedder",
    "CachedEmbedder",
    "TieredCache",
    "default_model_dir",
]
