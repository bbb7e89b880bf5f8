"""The store's read side: similarity, relevance, MMR, full-text and hybrid search, sync and async.

Scores from ``*_with_score`` are the table's similarities (higher is better: cosine similarity,
inner product, or minus the squared L2 distance); ``*_with_relevance_scores`` map them to [0, 1]
as described in :mod:`langchain_lance_spiral.rows`. Every method takes the keyword arguments of
:mod:`langchain_lance_spiral.options` and refuses any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from lance_spiral.documents import DocumentStore
from lance_spiral.errors import InvalidParameterError
from langchain_lance_spiral.options import SEARCH_KEYS, check_k, reject_unknown, search_options
from langchain_lance_spiral.rows import relevance_fn, to_document

__all__ = ["SearchMixin"]

Pairs = list[tuple[Document, float]]


class SearchMixin:
    """Search methods of :class:`~langchain_lance_spiral.LanceSpiralVectorStore`."""

    _embedding: Embeddings
    _docs: DocumentStore
    override_relevance_score_fn: Callable[[float], float] | None

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.override_relevance_score_fn is not None:
            return self.override_relevance_score_fn
        return relevance_fn(self._docs.metric)

    def _search(self, vector: Sequence[float], k: int, kwargs: dict[str, Any], method: str, *,
                with_vectors: bool = False, extra: Sequence[str] = ()
                ) -> tuple[list[Document], list[float], npt.NDArray[np.float32] | None]:
        check_k(k)
        opts = search_options(kwargs, k=k, method=method, extra=extra)
        rows, vecs = self._docs.search(np.asarray(vector, dtype=np.float32), k, opts.where,
                                       with_vectors=with_vectors, nprobes=opts.nprobes,
                                       rerank=opts.rerank)
        return [to_document(r) for r in rows], [float(r["_score"]) for r in rows], vecs

    # ------------------------------------------------------------------ similarity
    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None,
        **kwargs: Any
    ) -> Pairs:
        """Top-k documents for an embedding with their similarity (higher is better)."""
        docs, scores, _ = self._search(embedding, k, {"filter": filter, **kwargs},
                                       "similarity_search_with_score_by_vector")
        return list(zip(docs, scores, strict=True))

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None,
        **kwargs: Any
    ) -> list[Document]:
        """Top-k documents for an embedding."""
        return self._search(embedding, k, {"filter": filter, **kwargs},
                            "similarity_search_by_vector")[0]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> Pairs:
        """Top-k documents for a text query with their similarity (higher is better)."""
        reject_unknown(kwargs, SEARCH_KEYS, "similarity_search_with_score")
        return self.similarity_search_with_score_by_vector(
            self._embedding.embed_query(query), k, filter, **kwargs)

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Top-k documents for a text query."""
        reject_unknown(kwargs, SEARCH_KEYS, "similarity_search")
        return self.similarity_search_by_vector(self._embedding.embed_query(query), k, filter,
                                                **kwargs)

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> Pairs:
        fn = self._select_relevance_score_fn()
        return [(d, fn(s)) for d, s in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_by_vector_with_relevance_scores(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None,
        **kwargs: Any
    ) -> Pairs:
        """Top-k documents for an embedding with relevance in [0, 1] (``score_threshold`` too)."""
        threshold = kwargs.pop("score_threshold", None)
        fn = self._select_relevance_score_fn()
        pairs = [(d, fn(s)) for d, s in
                 self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]
        if threshold is None:
            return pairs
        return [(d, r) for d, r in pairs if r >= float(threshold)]

    # ------------------------------------------------------------------ MMR
    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Maximal marginal relevance: relevant yet diverse results (decoded vectors).

        ``lambda_mult``: 1 = pure relevance, 0 = pure diversity; no re-embedding.

        Raises:
            InvalidParameterError: k or fetch_k out of range, lambda_mult outside [0, 1].
        """
        check_k(k)
        check_k(fetch_k, "fetch_k")
        if not 0.0 <= float(lambda_mult) <= 1.0:
            raise InvalidParameterError(f"lambda_mult must be in [0, 1], got {lambda_mult!r}")
        docs, _, vecs = self._search(embedding, max(k, fetch_k), {"filter": filter, **kwargs},
                                     "max_marginal_relevance_search", with_vectors=True)
        if not docs or vecs is None:
            return []
        picked = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32), list(vecs), lambda_mult=lambda_mult, k=k)
        return [docs[i] for i in picked]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Maximal marginal relevance search for a text query (see the ``_by_vector`` form)."""
        reject_unknown(kwargs, SEARCH_KEYS, "max_marginal_relevance_search")
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, filter, **kwargs)

    # ------------------------------------------------------------------ full text, hybrid
    def full_text_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> Pairs:
        """Top-k documents by BM25 over the text (Lance's INVERTED index, built on first use).

        Returns:
            ``(document, BM25 score)`` pairs, best first; only documents sharing a word with
            the query.
        """
        check_k(k)
        opts = search_options({"filter": filter, **kwargs}, k=k, method="full_text_search")
        if opts.nprobes is not None or opts.rerank is not None:
            raise InvalidParameterError("nprobes / rerank apply to vector search, not full text")
        rows = self._docs.text_search(query, k, opts.where)
        return [(to_document(r), float(r["_score"])) for r in rows]

    def full_text_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Top-k documents by BM25 over the text (see :meth:`full_text_search_with_score`)."""
        return [d for d, _ in self.full_text_search_with_score(query, k, filter, **kwargs)]

    def hybrid_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, *,
        fetch_k: int | None = None, alpha: float | None = None, **kwargs: Any
    ) -> Pairs:
        """Vector search and BM25 full-text search, fused (best first, fused score).

        Args:
            query: The query text (embedded for the vector side, tokenised for BM25).
            k: Documents returned.
            filter: Metadata filter applied to both sides.
            fetch_k: Documents taken from each side before fusing (default ``max(4k, 20)``).
            alpha: None (default) for reciprocal-rank fusion (``1/(60 + rank)`` summed, as
                LanceDB's default); a weight in [0, 1] for a linear mix of min-max normalised
                scores (1 = vector only, 0 = text only).
            **kwargs: ``where_document``, ``sql``, ``nprobes``, ``rerank``, ``refine_factor``.
        """
        check_k(k)
        opts = search_options({"filter": filter, **kwargs}, k=k, method="hybrid_search")
        vector = np.asarray(self._embedding.embed_query(query), dtype=np.float32)
        rows = self._docs.hybrid_search(vector, query, k, opts.where, fetch_k=fetch_k,
                                        alpha=alpha, nprobes=opts.nprobes, rerank=opts.rerank)
        return [(to_document(r), float(r["_score"])) for r in rows]

    def hybrid_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Hybrid (vector + full-text) search; see :meth:`hybrid_search_with_score`."""
        return [d for d, _ in self.hybrid_search_with_score(query, k, filter, **kwargs)]

    # ------------------------------------------------------------------ async
    async def asimilarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search` (async query embedding, search in a thread)."""
        vector = await self._embedding.aembed_query(query)
        return await asyncio.to_thread(self.similarity_search_by_vector, vector, k, filter,
                                       **kwargs)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> Pairs:
        """Async :meth:`similarity_search_with_score`."""
        vector = await self._embedding.aembed_query(query)
        return await asyncio.to_thread(self.similarity_search_with_score_by_vector, vector, k,
                                       filter, **kwargs)

    async def ahybrid_search(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                             **kwargs: Any) -> list[Document]:
        """Async :meth:`hybrid_search` (in a worker thread)."""
        return await asyncio.to_thread(self.hybrid_search, query, k, filter, **kwargs)

    async def afull_text_search(self, query: str, k: int = 4,
                                filter: dict[str, Any] | None = None, **kwargs: Any
                                ) -> list[Document]:
        """Async :meth:`full_text_search` (in a worker thread)."""
        return await asyncio.to_thread(self.full_text_search, query, k, filter, **kwargs)
