"""A LlamaIndex vector store over a lance-spiral compressed Lance table.

Columns: ``id`` (node id), ``text``, ``metadata`` (Arrow ``json``: the node's own metadata, exact
types, filterable), ``ref_doc_id``, ``node_content`` (the rest of the node as JSON, for an exact
rebuild) and the vector, stored compressed (``sq:bits=8`` by default).

Query modes: ``DEFAULT`` (vector), ``MMR``, ``TEXT_SEARCH`` (BM25 over the text through Lance's
INVERTED index, built on first use) and ``HYBRID`` (both, fused: reciprocal-rank fusion, or with
``query.alpha`` a linear mix, 1 = vector only).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from lance_spiral._validation import check_int
from lance_spiral.documents import DocumentStore, resolve_location
from lance_spiral.errors import InvalidInputError, InvalidParameterError
from lance_spiral.table.sql import sql_in, sql_literal
from lance_spiral.table.sql.predicates import and_
from lance_spiral_llamaindex.filters import filters_to_sql
from lance_spiral_llamaindex.nodes import node_row, row_node
from lance_spiral_llamaindex.query_args import query_args

__all__ = ["LanceSpiralVectorStore"]

_MMR_FETCH_FACTOR = 4
_MODES = (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR,
          VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.HYBRID)


class LanceSpiralVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store on a compressed Lance table (stores text and full nodes).

    Args:
        uri: Table location (path or ``s3://...``), or with ``table_name`` the database folder
            (LanceDB style: several tables in one folder); a temporary table when None.
        table_name: Table in the database folder ``uri``.
        codec: Codec spec for a new table (default ``sq:bits=8``); on an existing table only
            its own spec is accepted (:meth:`requantize` changes it).
        metric: ``cosine`` (default for a new table), ``ip`` or ``l2``; checked likewise.
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept as well).
        nprobes: IVF partitions scanned per query (tables with ``nlist`` > 0); None: automatic.
        rerank: Re-rank depth ``k'`` per query; None: automatic.
        table_kwargs: More ``create_table`` options (``fit_rows``, ``nlist``), checked against
            an existing table.
        storage_options: Object-store options for Lance.
        memory: ``"ram"`` (default: every code resident) or ``"disk"`` (only the 1-bit
            candidate codes resident, re-rank codes read per query: ~48 B/vector at 384-d).
        cache_dir: With ``memory="disk"``: a local folder caching the codes (for ``s3://``).
        read_consistency_interval: Seconds after which a query first looks for nodes other
            processes committed (default 1; 0: every query; None: never).

    ``to_dict()`` reports ``codec`` (the table's target spec) and ``stored_codec`` (the fitted
    codec that encodes the rows now).
    """

    stores_text: bool = True
    flat_metadata: bool = False
    uri: str
    table_name: str | None = None
    codec: str | None = None
    metric: str | None = None
    mode: str | None = None
    nprobes: int | None = None
    rerank: int | None = None
    memory: str = "ram"
    cache_dir: str | None = None
    read_consistency_interval: float | None = 1.0

    _table: DocumentStore = PrivateAttr()
    _tmp: Any = PrivateAttr(default=None)

    def __init__(
        self,
        uri: str | os.PathLike[str] | None = None,
        *,
        table_name: str | None = None,
        codec: str | None = None,
        metric: str | None = None,
        mode: str | None = None,
        nprobes: int | None = None,
        rerank: int | None = None,
        table_kwargs: dict[str, Any] | None = None,
        storage_options: dict[str, str] | None = None,
        memory: str = "ram",
        cache_dir: str | os.PathLike[str] | None = None,
        read_consistency_interval: float | None = 1.0,
        **kwargs: Any,
    ) -> None:
        known = set(type(self).model_fields)
        bad = sorted(k for k in kwargs if k not in known or k == "uri")
        if bad:
            raise InvalidParameterError(
                f"LanceSpiralVectorStore got unsupported argument(s) {bad}")
        for name, value in (("nprobes", nprobes), ("rerank", rerank)):
            if value is not None:
                check_int(value, name, lo=1)
        location = resolve_location(uri, table_name=table_name, default_name="vectors")
        tmp = None
        if location is None:
            tmp = tempfile.TemporaryDirectory(prefix="lance-spiral-li-")
            location = str(Path(tmp.name) / f"{table_name or 'store'}.lance")
        docs = DocumentStore(location, codec=codec, metric=metric, mode=mode,
                             create_kwargs=table_kwargs, storage_options=storage_options,
                             memory=memory, cache_dir=cache_dir,
                             read_consistency_interval=read_consistency_interval)
        stored = docs.table
        fields: dict[str, Any] = {
            "uri": str(uri) if uri is not None and table_name else location,
            "table_name": table_name, "codec": docs.codec_spec, "metric": docs.metric,
            "mode": stored.meta.mode if stored is not None else (mode or "compressed"),
            "nprobes": nprobes, "rerank": rerank, "memory": memory,
            "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
            "read_consistency_interval": read_consistency_interval}
        super().__init__(**fields, **kwargs)
        self._tmp = tmp
        self._table = docs

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralVectorStore"

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> LanceSpiralVectorStore:
        """Rebuild from :meth:`to_dict` (``stored_codec`` is a report, not an argument)."""
        data = {k: v for k, v in {**data, **kwargs}.items()
                if k not in ("class_name", "stored_codec")}
        return cls(**data)

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """The store's settings, with ``stored_codec``: the codec encoding the rows now."""
        data = super().to_dict(**kwargs)
        table = self._table.table
        codec = table.codec if table is not None else None
        data["stored_codec"] = None if codec is None else codec.spec
        if table is not None:
            data["codec"] = table.meta.codec_spec
        return data

    @property
    def client(self) -> Any:
        """The underlying lance-spiral ``CompressedTable`` (None before the first add)."""
        return self._table.table

    def requantize(self, codec: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Re-encode the stored vectors with another codec, in one commit (returns a report)."""
        report = self._table.requantize(codec, **kwargs)
        self.codec = self._table.codec_spec
        return report

    # ------------------------------------------------------------------ writes
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert nodes (each must carry its embedding); returns their ids.

        Raises:
            InvalidInputError: A node without an embedding or with non-JSON metadata.
            InvalidParameterError: Keyword arguments (none are taken).
        """
        if add_kwargs:
            raise InvalidParameterError(
                f"add() takes no keyword arguments, got {sorted(add_kwargs)}")
        nodes = list(nodes)
        if not nodes:
            return []
        missing = [n.node_id for n in nodes if n.embedding is None]
        if missing:
            raise InvalidInputError(f"nodes without an embedding: {missing[:5]}")
        rows = [node_row(n) for n in nodes]
        vectors = np.asarray([n.embedding for n in nodes], dtype=np.float32)
        ids = [n.node_id for n in nodes]
        extra = {
            "ref_doc_id": pa.array([r[1] for r in rows], pa.string()),
            "node_content": pa.array([r[2] for r in rows], pa.string()),
            "node_type": pa.array([r[3] for r in rows], pa.string()),
        }
        self._table.upsert(ids, [n.get_content() for n in nodes], [r[0] for r in rows], vectors,
                           extra)
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of a source document."""
        if not isinstance(ref_doc_id, str):
            raise InvalidInputError(f"ref_doc_id must be a string, got {ref_doc_id!r}")
        self._table.delete_where(f"ref_doc_id = {sql_literal(ref_doc_id)}")

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id and/or metadata filter (both given: nodes matching both)."""
        where = self._where(node_ids, None, filters)
        if where is not None:
            self._table.delete_where(where)

    def clear(self) -> None:
        """Delete every node."""
        self._table.delete_where("true")

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _where(node_ids: Sequence[str] | None, doc_ids: Sequence[str] | None,
               filters: MetadataFilters | None, more: Sequence[str] = ()) -> str | None:
        # LlamaIndex passes empty id lists to mean "no restriction" (e.g. VectorStoreIndex).
        parts = []
        if node_ids:
            parts.append(sql_in("id", [str(i) for i in node_ids]))
        if doc_ids:
            parts.append(sql_in("ref_doc_id", [str(i) for i in doc_ids]))
        sql = filters_to_sql(filters)
        if sql is not None:
            parts.append(sql)
        parts.extend(more)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else and_(parts)

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id (in the given order) and/or filter; every node when both are None."""
        if node_ids is not None and not node_ids and filters is None:
            return []
        if node_ids and filters is None:
            return [row_node(r) for r in self._table.get([str(i) for i in node_ids])[0]]
        return [row_node(r) for r in self._table.scan(self._where(node_ids, None, filters))[0]]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Top-k nodes for the query: filters, doc/node ids, MMR, text search, hybrid.

        Args:
            query: The query (``query_embedding`` for vector modes, ``query_str`` for
                ``TEXT_SEARCH`` and ``HYBRID``).
            **kwargs: ``where``, ``where_document``, ``sql``, ``nprobes``, ``rerank`` /
                ``refine_factor`` (see :mod:`lance_spiral_llamaindex.query_args`).

        Raises:
            InvalidParameterError: An unsupported mode or keyword, or a missing embedding/text.
        """
        if query.mode not in _MODES:
            raise InvalidParameterError(
                f"query mode {query.mode.value!r} is not supported (use one of "
                f"{[m.value for m in _MODES]})")
        k = int(query.similarity_top_k)
        if k < 1:
            raise InvalidParameterError(f"similarity_top_k must be >= 1, got {k}")
        args = query_args(kwargs, k=k, nprobes=self.nprobes, rerank=self.rerank)
        where = self._where(query.node_ids, query.doc_ids, query.filters, args.where)
        mode = query.mode
        if mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.HYBRID) and (
                not query.query_str):
            raise InvalidParameterError(f"query mode {mode.value!r} needs query.query_str")
        if mode == VectorStoreQueryMode.TEXT_SEARCH:
            return _result(self._table.text_search(str(query.query_str), k, where))
        if query.query_embedding is None:
            raise InvalidParameterError(f"query mode {mode.value!r} needs query.query_embedding")
        qvec = np.asarray(query.query_embedding, dtype=np.float32)
        if mode == VectorStoreQueryMode.HYBRID:
            top = int(query.hybrid_top_k or k)
            rows = self._table.hybrid_search(
                qvec, str(query.query_str), top, where, fetch_k=query.sparse_top_k,
                alpha=query.alpha, nprobes=args.nprobes, rerank=args.rerank)
            return _result(rows)
        mmr = mode == VectorStoreQueryMode.MMR
        fetch = k * _MMR_FETCH_FACTOR if mmr else k
        rows, vecs = self._table.search(qvec, fetch, where, with_vectors=mmr,
                                        nprobes=args.nprobes, rerank=args.rerank)
        if not (mmr and rows and vecs is not None):
            return _result(rows)
        threshold = 0.5 if query.mmr_threshold is None else float(query.mmr_threshold)
        scores, picked = get_top_k_mmr_embeddings(
            list(qvec), [list(v) for v in vecs], similarity_top_k=k,
            embedding_ids=list(range(len(rows))), mmr_threshold=threshold)
        return _result([rows[i] for i in picked], [float(s) for s in scores])

    # ------------------------------------------------------------------ async
    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Async :meth:`add` (in a worker thread)."""
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, ref_doc_id)

    async def adelete_nodes(self, node_ids: list[str] | None = None,
                            filters: MetadataFilters | None = None, **delete_kwargs: Any) -> None:
        """Async :meth:`delete_nodes`."""
        await asyncio.to_thread(self.delete_nodes, node_ids, filters)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear)

    async def aget_nodes(self, node_ids: list[str] | None = None,
                         filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Async :meth:`get_nodes`."""
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async :meth:`query`."""
        return await asyncio.to_thread(self.query, query, **kwargs)


def _result(rows: list[dict[str, Any]], scores: list[float] | None = None
            ) -> VectorStoreQueryResult:
    sims = [float(r["_score"]) for r in rows] if scores is None else scores
    return VectorStoreQueryResult(nodes=[row_node(r) for r in rows], similarities=sims,
                                  ids=[r["id"] for r in rows])
