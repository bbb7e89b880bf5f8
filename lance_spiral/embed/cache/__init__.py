"""Embedding caches: a three-tier cache (memory, compressed memory, Lance on disk) and a wrapper."""

from lance_spiral.embed.cache.disk import DiskTier, text_key
from lance_spiral.embed.cache.embedder import CachedEmbedder, cached_embed
from lance_spiral.embed.cache.tiers import TieredCache

__all__ = ["CachedEmbedder", "DiskTier", "TieredCache", "cached_embed", "text_key"]
