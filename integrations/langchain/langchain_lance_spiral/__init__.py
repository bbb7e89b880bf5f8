"""LangChain integration of lance-spiral: a compressed-Lance ``VectorStore`` and ``Embeddings``."""

from langchain_lance_spiral.embeddings import ApproximatorEmbeddings, BedrockEmbeddings
from langchain_lance_spiral.filters import filter_to_sql
from langchain_lance_spiral.retriever import LanceSpiralRetriever
from langchain_lance_spiral.vectorstores import LanceSpiralVectorStore

__all__ = [
    "ApproximatorEmbeddings",
    "BedrockEmbeddings",
    "LanceSpiralRetriever",
    "LanceSpiralVectorStore",
    "filter_to_sql",
]
