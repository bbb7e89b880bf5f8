"""LlamaIndex integration of lance-spiral: a compressed-Lance vector store and embeddings."""

from lance_spiral_llamaindex.embedding import ApproximatorEmbedding, BedrockEmbedding
from lance_spiral_llamaindex.filters import filters_to_sql
from lance_spiral_llamaindex.vector_store import LanceSpiralVectorStore

__all__ = [
    "ApproximatorEmbedding",
    "BedrockEmbedding",
    "LanceSpiralVectorStore",
    "filters_to_sql",
]
