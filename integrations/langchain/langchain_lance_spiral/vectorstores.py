"""A LangChain ``VectorStore`` over a lance-spiral compressed Lance table.

Rows are ``id`` (string), ``text``, ``metadata`` (Arrow ``json``: exact round trip of each
document's own keys and value types, filterable, see :mod:`lance_spiral.table.sql.predicates`)
and the vector, stored compressed by a lance-spiral codec (``sq:bits=8`` by default: 4x smaller
than float32). Adding with an existing id replaces that row (merge-insert on ``id``).

Where the table lives, in any of the frameworks' spellings: ``uri`` (the table itself),
``uri`` + ``table_name`` (LanceDB: a database folder holding several tables),
``persist_directory`` [+ ``collection_name``] (Chroma), or nothing (a temporary table).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from lance_spiral.documents import DocumentStore, resolve_location
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError
from lance_spiral.table.sql import sql_in
from lance_spiral.table.sql.predicates import and_
from langchain_lance_spiral.options import FILTER_KEYS, reject_unknown, where_sql
from langchain_lance_spiral.retriever import EXTRA_SEARCH_TYPES, LanceSpiralRetriever
from langchain_lance_spiral.rows import metadata_json, to_document
from langchain_lance_spiral.search import SearchMixin
from langchain_lance_spiral.writes import embedding_rows

__all__ = ["LanceSpiralVectorStore"]

_INCLUDE = ("documents", "metadatas", "embeddings")


class LanceSpiralVectorStore(SearchMixin, VectorStore):
    """LangChain vector store on a compressed Lance table.

    Args:
        embedding: The embeddings model (e.g. :class:`ApproximatorEmbeddings`);
            ``embedding_function`` is Chroma's name for it.
        uri: Table location (path or ``s3://...``), or with ``table_name`` the database folder.
        table_name: Table in the database folder ``uri`` (LanceDB style).
        persist_directory: Database folder (Chroma style); the table is ``collection_name``.
        collection_name: Table name with ``persist_directory`` (default ``"langchain"``).
        embedding_function: Alias of ``embedding`` (Chroma's spelling).
        codec: Codec spec for a new table (default ``sq:bits=8``); on an existing table only
            its own spec is accepted (change it with :meth:`requantize`).
        metric: ``cosine`` (default for a new table), ``ip`` or ``l2``; checked likewise.
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept as well).
        relevance_score_fn: Override of the score -> [0, 1] relevance mapping.
        table_kwargs: More ``lance_spiral.table.create_table`` options used when the table is
            created (``fit_rows``, ``nlist``); checked against an existing table.
        storage_options: Object-store options for Lance (``s3://`` credentials, endpoint).
        memory: ``"ram"`` (default: every code resident) or ``"disk"`` (only the 1-bit
            candidate codes resident, re-rank codes read per query: ~48 B/vector at 384-d).
        cache_dir: With ``memory="disk"``: a local folder caching the codes (for ``s3://``).
        read_consistency_interval: Seconds (or a ``timedelta``) after which a search first
            looks for rows other processes committed (default 1; 0: every search; None: never).

    Raises:
        InvalidParameterError: Contradictory locations, settings that differ from an existing
            table, unknown table options, or no embeddings model.
    """

    def __init__(
        self,
        embedding: Embeddings | None = None,
        uri: str | os.PathLike[str] | None = None,
        *,
        table_name: str | None = None,
        persist_directory: str | os.PathLike[str] | None = None,
        collection_name: str | None = None,
        embedding_function: Embeddings | None = None,
        codec: str | None = None,
        metric: str | None = None,
        mode: str | None = None,
        relevance_score_fn: Callable[[float], float] | None = None,
        table_kwargs: dict[str, Any] | None = None,
        storage_options: dict[str, str] | None = None,
        memory: str = "ram",
        cache_dir: str | os.PathLike[str] | None = None,
        read_consistency_interval: float | timedelta | None = 1.0,
    ) -> None:
        if embedding is not None and embedding_function is not None:
            raise InvalidParameterError("pass embedding or embedding_function, not both")
        embedding = embedding if embedding is not None else embedding_function
        if not isinstance(embedding, Embeddings):
            raise InvalidParameterError(
                f"embedding must be a langchain Embeddings, got {type(embedding).__name__}")
        location = resolve_location(uri, table_name=table_name,
                                    persist_directory=persist_directory,
                                    collection_name=collection_name, default_name="langchain")
        self._tmp = None
        if location is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lance-spiral-lc-")
            location = str(Path(self._tmp.name) / f"{table_name or collection_name or 'store'}"
                                                   ".lance")
        self._embedding = embedding
        self._docs = DocumentStore(location, codec=codec, metric=metric, mode=mode,
                                   create_kwargs=table_kwargs, storage_options=storage_options,
                                   memory=memory, cache_dir=cache_dir,
                                   read_consistency_interval=read_consistency_interval)
        self.override_relevance_score_fn = relevance_score_fn

    @property
    def embeddings(self) -> Embeddings:
        """The embeddings model in use."""
        return self._embedding

    @property
    def uri(self) -> str:
        """Where the table lives."""
        return self._docs.uri

    @property
    def table(self) -> Any:
        """The underlying ``lance_spiral.table.CompressedTable`` (None before the first add)."""
        return self._docs.table

    def __len__(self) -> int:
        """Number of documents stored."""
        return self._docs.count()

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
            **kwargs: None accepted (an unknown keyword raises).

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputError: Mismatched lengths or non-JSON metadata.
        """
        reject_unknown(kwargs, (), "add_texts")
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("texts must be strings")
        for name, seq in (("metadatas", metadatas), ("ids", ids)):
            if seq is not None and len(seq) != len(texts):
                raise InvalidInputError(f"got {len(seq)} {name} for {len(texts)} texts")
        if not texts:
            return []
        vectors = self._embedding.embed_documents(texts)
        return self._write(texts, vectors, metadatas, ids)

    def add_embeddings(self, text_embeddings: Any, *args: Any, **kwargs: Any) -> list[str]:
        """Upsert texts with precomputed embeddings (no embedding model call).

        Two spellings: FAISS's ``add_embeddings([(text, vector), ...], metadatas=None,
        ids=None)``, and ``add_embeddings(texts, embeddings, metadatas=None, ids=None)``.
        Typical use: documents keep teacher vectors while queries go through the approximator,
        which lives in the teacher's space.

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputError: Mismatched lengths, a bad array, or non-JSON metadata.
        """
        texts, vectors, metadatas, ids = embedding_rows(text_embeddings, args, kwargs)
        return self._write(texts, vectors, metadatas, ids)

    def _write(self, texts: Sequence[str], embeddings: Any,
               metadatas: Sequence[Mapping[str, Any] | None] | None,
               ids: Sequence[str | None] | None) -> list[str]:
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise InvalidInputError(
                f"embeddings must have shape [{len(texts)}, dim], got {vectors.shape}")
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
        self._docs.upsert(out_ids, list(texts), metas, vectors)
        return out_ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add documents; ``ids=`` or each ``Document.id`` sets the row id (upsert)."""
        ids = kwargs.pop("ids", None)
        if ids is None:
            ids = [d.id for d in documents]
        return self.add_texts([d.page_content for d in documents],
                              [d.metadata for d in documents], ids=ids, **kwargs)

    def update_documents(self, ids: list[str], documents: list[Document]) -> None:
        """Replace the text, metadata and vector of existing documents (Chroma's method).

        Raises:
            NotFoundError: Some ids are not in the store (nothing is written then).
            InvalidInputError: ``ids`` and ``documents`` differ in length.
        """
        if len(ids) != len(documents):
            raise InvalidInputError(f"got {len(ids)} ids for {len(documents)} documents")
        if not ids:
            return
        wanted = [str(i) for i in ids]
        found = {r["id"] for r in self._docs.scan(sql_in("id", list(dict.fromkeys(wanted))))[0]}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"update_documents: no documents with ids {missing[:10]}"
                                + (" ..." if len(missing) > 10 else "") + " (add them instead)")
        self.add_texts([d.page_content for d in documents], [d.metadata for d in documents],
                       ids=wanted)

    def update_document(self, document_id: str, document: Document) -> None:
        """Replace one existing document (see :meth:`update_documents`)."""
        self.update_documents([document_id], [document])

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete rows by id (missing ids are ignored), by filter, or every row.

        Args:
            ids: The ids; None with no filter deletes every row.
            **kwargs: ``filter`` (metadata dict), ``where_document`` (text filter) or ``sql``
                (trusted raw predicate) to delete the matching rows (AND-ed with ``ids``).

        Returns:
            True.
        """
        reject_unknown(kwargs, FILTER_KEYS, "delete")
        where = where_sql(kwargs.get("filter"), kwargs.get("where_document"), kwargs.get("sql"))
        if where is None:
            if ids is None:
                self._docs.delete_where("true")
            else:
                self._docs.delete_ids([str(i) for i in ids])
            return True
        if ids is not None:
            if not ids:
                return True
            where = and_([sql_in("id", [str(i) for i in ids]), where])
        self._docs.delete_where(where)
        return True

    def delete_collection(self) -> None:
        """Delete the whole table (every version and side file) from disk or the object store.

        The store stays usable: the next add creates the table again with the same settings.
        """
        self._docs.drop()

    def reset_collection(self) -> None:
        """Empty the store by dropping its table (Chroma's ``reset_collection``)."""
        self._docs.drop()

    def requantize(self, codec: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Re-encode the stored vectors with another codec, in one commit (returns a report)."""
        return self._docs.requantize(codec, **kwargs)

    # ------------------------------------------------------------------ reads
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids, in the given order; missing ids are skipped."""
        rows, _ = self._docs.get([str(i) for i in ids])
        return [to_document(r) for r in rows]

    def get(
        self,
        ids: str | Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: dict[str, Any] | None = None,
        include: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Documents by id and/or filter, as Chroma's ``get`` returns them.

        Args:
            ids: One id or a list (results keep their order); None for all.
            where: Metadata filter dict.
            limit: At most this many documents.
            offset: Skip this many first.
            where_document: Text filter (``{"$contains": "word"}``...).
            include: Any of ``documents``, ``metadatas``, ``embeddings`` (decoded from the
                stored codes); default documents and metadatas.
            **kwargs: ``sql`` (a trusted raw predicate).

        Returns:
            ``{"ids", "documents", "metadatas", "embeddings", "uris", "data", "included"}``;
            keys not included are None.
        """
        reject_unknown(kwargs, ("sql",), "get")
        include = list(include) if include is not None else ["documents", "metadatas"]
        bad = sorted(set(include) - set(_INCLUDE))
        if bad:
            raise InvalidParameterError(f"include {bad} is not supported; choose from {_INCLUDE}")
        sql = where_sql(where, where_document, kwargs.get("sql"))
        with_vec = "embeddings" in include
        rows: list[dict[str, Any]]
        if ids is not None:
            wanted = [str(i) for i in ([ids] if isinstance(ids, str) else ids)]
            if not wanted:
                rows, vecs = [], (np.zeros((0, 0), np.float32) if with_vec else None)
            else:
                sql = and_([sql_in("id", list(dict.fromkeys(wanted))), *([sql] if sql else [])])
                rows, vecs = self._docs.scan(sql, with_vectors=with_vec)
                order = {r["id"]: n for n, r in enumerate(rows)}
                pick = [order[i] for i in dict.fromkeys(wanted) if i in order]
                pick = pick[offset or 0:][:limit] if limit is not None else pick[offset or 0:]
                rows = [rows[n] for n in pick]
                vecs = vecs[pick] if vecs is not None and len(pick) else vecs
        else:
            rows, vecs = self._docs.scan(sql, limit=limit, offset=offset or 0,
                                         with_vectors=with_vec)
        docs = [to_document(r) for r in rows]
        return {
            "ids": [d.id for d in docs],
            "documents": [d.page_content for d in docs] if "documents" in include else None,
            "metadatas": [d.metadata for d in docs] if "metadatas" in include else None,
            "embeddings": vecs if with_vec else None,
            "uris": None,
            "data": None,
            "included": include,
        }

    def as_retriever(self, **kwargs: Any) -> LanceSpiralRetriever:
        """A retriever; ``search_type`` may also be ``"hybrid"`` or ``"full_text"``."""
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return LanceSpiralRetriever(vectorstore=self, tags=tags, **kwargs)

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """LangChain's ``search`` plus ``search_type="hybrid"`` and ``"full_text"``."""
        if search_type in EXTRA_SEARCH_TYPES:
            docs: list[Document] = getattr(self, f"{search_type}_search")(query, **kwargs)
            return docs
        return super().search(query, search_type, **kwargs)

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
        """Create a store (constructor arguments in kwargs) and add texts."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_embeddings(
        cls,
        text_embeddings: Iterable[tuple[str, Sequence[float]]],
        embedding: Embeddings,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> LanceSpiralVectorStore:
        """FAISS's constructor: a store from ``(text, vector)`` pairs (constructor kwargs)."""
        store = cls(embedding, **kwargs)
        store.add_embeddings(list(text_embeddings), metadatas=metadatas, ids=ids)
        return store

