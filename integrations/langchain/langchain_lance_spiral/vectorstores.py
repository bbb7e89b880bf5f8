"""A LangChain ``VectorStore`` over a lance-spiral compressed Lance table.

Rows are ``id`` (string), ``text``, ``metadata`` (Arrow ``json``: exact round trip of each
document's own keys and value types, filterable in SQL, see
:mod:`lance_spiral.table.sql.predicates`) and the vector, stored compressed by a lance-spiral codec
(``sq:bits=8`` by default: 4x smaller than float32).
Adding with an existing id replaces that row (merge-insert on ``id``), so re-adding is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from lance_spiral.documents import DocumentStore
from lance_spiral.errors import InvalidInputError, InvalidParameterError
from langchain_lance_spiral.filters import filter_to_sql
from langchain_lance_spiral.rows import Filter, metadata_json, similarity_to_relevance

__all__ = ["LanceSpiralVectorStore"]

class LanceSpiralVectorStore(VectorStore):
    """LangChain vector store on a compressed Lance table.

    Args:
        embedding: The embeddings model (e.g. :class:`ApproximatorEmbeddings`).
        uri: Table location (local path or ``s3://...``); a temporary directory when None.
        codec: lance-spiral codec spec for the stored vectors.
        metric: ``cosine`` (default), ``ip`` or ``l2``.
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept as well).
        relevance_score_fn: Override of the score -> [0, 1] relevance mapping.
        table_kwargs: More ``lance_spiral.table.create_table`` arguments used when the table
            is created (e.g. ``fit_rows``: rows before the target codec is fitted; ``nlist``).

    Scores returned by ``similarity_search_with_score`` are similarities, higher is better
    (cosine similarity, inner product, or minus the squared L2 distance).

    Filters are dicts (``{"source": "a", "page": {"$gt": 3}}``, see :mod:`.filters`) or raw
    Lance SQL strings.
    """

    def __init__(
        self,
        embedding: Embeddings,
        uri: str | Path | None = None,
        *,
        codec: str = "sq:bits=8",
        metric: str = "cosine",
        mode: str = "compressed",
        relevance_score_fn: Callable[[float], float] | None = None,
        table_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(embedding, Embeddings):
            raise InvalidInputError(
                f"embedding must be a langchain Embeddings, got {type(embedding).__name__}"
            )
        if metric not in ("cosine", "ip", "l2"):
            raise InvalidParameterError(f"metric must be cosine, ip or l2, got {metric!r}")
        if uri is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lance-spiral-lc-")
            uri = str(Path(self._tmp.name) / "store.lance")
        self._embedding = embedding
        self._table = DocumentStore(
            str(uri), codec=codec, metric=metric, mode=mode, create_kwargs=table_kwargs
        )
        self._metric = metric
        self.override_relevance_score_fn = relevance_score_fn

    @property
    def embeddings(self) -> Embeddings:
        """The embeddings model in use."""
        return self._embedding

    @property
    def uri(self) -> str:
        """Where the table lives."""
        return self._table.uri

    @property
    def table(self) -> Any:
        """The underlying ``lance_spiral.table.CompressedTable`` (None before the first add)."""
        return self._table.table

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.override_relevance_score_fn is not None:
            return self.override_relevance_score_fn
        return similarity_to_relevance(self._metric)

    # ------------------------------------------------------------------ writes

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and upsert texts; an existing id is replaced.

        Args:
            texts: The texts.
            metadatas: One metadata dict per text (JSON-serialisable), or None.
            ids: One id per text (None entries get a fresh UUID), or None.
            **kwargs: Unused.

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputError: On mismatched lengths or non-JSON metadata.
        """
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("texts must be strings")
        for name, seq in (("metadatas", metadatas), ("ids", ids)):
            if seq is not None and len(seq) != len(texts):
                raise InvalidInputError(f"got {len(seq)} {name} for {len(texts)} texts")
        if not texts:
            return []
        vectors = self._embedding.embed_documents(texts)
        return self.add_embeddings(texts, vectors, metadatas, ids=ids)

    def add_embeddings(
        self,
        texts: Sequence[str],
        embeddings: Any,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Upsert texts with precomputed embeddings.

        Typical use: documents keep teacher vectors while queries go through the approximator,
        which lives in the teacher's space.

        Args:
            texts: The texts.
            embeddings: float array or nested lists ``[len(texts), dim]``.
            metadatas: One metadata dict per text, or None.
            ids: One id per text (None entries get a fresh UUID), or None.

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputError: On mismatched lengths, a bad array, or non-JSON metadata.
        """
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("texts must be strings")
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise InvalidInputError(
                f"embeddings must have shape [{len(texts)}, dim], got {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise InvalidInputError("embeddings contain NaN or infinite values")
        for name, seq in (("metadatas", metadatas), ("ids", ids)):
            if seq is not None and len(seq) != len(texts):
                raise InvalidInputError(f"got {len(seq)} {name} for {len(texts)} texts")
        given: list[str | None] = list(ids) if ids is not None else [None] * len(texts)
        out_ids = [str(i) if i is not None else str(uuid.uuid4()) for i in given]
        if not texts:
            return []
        metas = [metadata_json(metadatas[n] if metadatas else None) for n in range(len(texts))]
        self._table.upsert(out_ids, texts, metas, vectors)
        return out_ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add documents; ``ids=`` or each ``Document.id`` sets the row id (upsert).

        Args:
            documents: The documents.
            **kwargs: ``ids`` (list of str) to override the documents' own ids.

        Returns:
            The ids, in input order.
        """
        ids = kwargs.pop("ids", None)
        if ids is None:
            ids = [d.id for d in documents]
        return self.add_texts(
            [d.page_content for d in documents], [d.metadata for d in documents], ids=ids
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete rows by id (missing ids are ignored); ``ids=None`` deletes every row.

        Args:
            ids: The ids, or None for all.
            **kwargs: ``filter`` (dict or SQL) to delete matching rows instead.

        Returns:
            True.
        """
        flt = kwargs.get("filter")
        if flt is not None:
            where = filter_to_sql(flt)
            if where is not None:
                self._table.delete_where(where)
            return True
        if ids is None:
            self._table.delete_where("TRUE")
        else:
            self._table.delete_ids([str(i) for i in ids])
        return True

    # ------------------------------------------------------------------ reads

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids, in the given order; missing ids are skipped."""
        rows = self._table.get([str(i) for i in ids])
        return [self._to_doc(r) for r in rows]

    def _to_doc(self, row: Mapping[str, Any]) -> Document:
        return Document(
            id=row["id"], page_content=row["text"], metadata=json.loads(row["metadata"])
        )

    def _search(
        self, vector: Sequence[float], k: int, flt: Filter, *, with_vectors: bool = False
    ) -> tuple[list[Document], list[float], npt.NDArray[np.float32] | None]:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
        rows, vecs = self._table.search(
            np.asarray(vector, dtype=np.float32), k, filter_to_sql(flt), with_vectors=with_vectors
        )
        docs = [self._to_doc(r) for r in rows]
        return docs, [float(r["_score"]) for r in rows], vecs

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Top-k documents with their similarity (higher is better)."""
        docs, scores, _ = self._search(embedding, k, filter)
        return list(zip(docs, scores, strict=True))

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[Document]:
        """Top-k documents for an embedding."""
        return self._search(embedding, k, filter)[0]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Top-k documents for a text query with their similarity (higher is better)."""
        return self.similarity_search_with_score_by_vector(
            self._embedding.embed_query(query), k, filter
        )

    def similarity_search(
        self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[Document]:
        """Top-k documents for a text query."""
        return self.similarity_search_by_vector(self._embedding.embed_query(query), k, filter)

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        fn = self._select_relevance_score_fn()
        pairs = self.similarity_search_with_score(query, k, kwargs.get("filter"))
        return [(d, fn(s)) for d, s in pairs]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Maximal marginal relevance: relevant yet diverse results.

        Args:
            embedding: Query embedding.
            k: Number of documents to return.
            fetch_k: Candidates fetched before re-ranking (>= k).
            lambda_mult: 1 = pure relevance, 0 = pure diversity.
            filter: Metadata filter (dict or SQL).
            **kwargs: Unused.

        Returns:
            Up to k documents.

        Raises:
            InvalidParameterError: For k or fetch_k out of range, lambda_mult outside [0, 1].
        """
        if not 0.0 <= float(lambda_mult) <= 1.0:
            raise InvalidParameterError(f"lambda_mult must be in [0, 1], got {lambda_mult!r}")
        docs, _, vecs = self._search(embedding, max(k, fetch_k), filter, with_vectors=True)
        if not docs or vecs is None:
            return []
        picked = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32), list(vecs), lambda_mult=lambda_mult, k=k
        )
        return [docs[i] for i in picked]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Maximal marginal relevance search for a text query (see the ``_by_vector`` form)."""
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, filter
        )

    # ------------------------------------------------------------------ async

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`: embeds with the model's async API, writes in a thread."""
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("texts must be strings")
        if not texts:
            return []
        vectors = await self._embedding.aembed_documents(texts)
        return await asyncio.to_thread(self.add_embeddings, texts, vectors, metadatas, ids=ids)

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Async :meth:`add_documents`."""
        ids = kwargs.pop("ids", None)
        if ids is None:
            ids = [d.id for d in documents]
        return await self.aadd_texts(
            [d.page_content for d in documents], [d.metadata for d in documents], ids=ids
        )

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search` (async query embedding, search in a thread)."""
        vector = await self._embedding.aembed_query(query)
        return await asyncio.to_thread(self.similarity_search_by_vector, vector, k, filter)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        vector = await self._embedding.aembed_query(query)
        return await asyncio.to_thread(
            self.similarity_search_with_score_by_vector, vector, k, filter
        )

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> LanceSpiralVectorStore:
        """Create a store (``uri``, ``codec``, ``metric``, ``mode`` in kwargs) and add texts."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

