"""A LlamaIndex vector store over a lance-spiral compressed Lance table.

Columns: ``id`` (node id), ``text``, ``metadata`` (Arrow ``json``: the node's own metadata, exact
types, filterable), ``ref_doc_id``, ``node_content`` (the rest of the node as JSON, for an exact
rebuild) and the vector, stored compressed (``sq:bits=8`` by default).
"""

from __future__ import annotations

import asyncio
import json
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
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from lance_spiral.documents import DocumentStore
from lance_spiral.errors import InvalidInputError, InvalidParameterError
from lance_spiral.table.sql import predicates, sql_literal
from lance_spiral_llamaindex.filters import filters_to_sql

__all__ = ["LanceSpiralVectorStore"]

_MMR_FETCH_FACTOR = 4


def _node_row(node: BaseNode) -> tuple[str, str, str, str]:
    """(metadata JSON, ref_doc_id, node JSON without text/metadata/embedding, node type)."""
    try:
        metadata = json.dumps(node.metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata of node {node.node_id!r} is not JSON: {exc}") from exc
    body = node.model_dump(mode="json")
    body["metadata"] = {}
    body["embedding"] = None
    if "text" in body:
        body["text"] = ""
    body.pop("text_resource", None)
    return metadata, node.ref_doc_id or "", json.dumps(body), node.class_name()


def _row_node(row: dict[str, Any]) -> BaseNode:
    body = json.loads(row["node_content"])
    body["metadata"] = json.loads(row["metadata"])
    node = metadata_dict_to_node(
        {"_node_content": json.dumps(body), "_node_type": row["node_type"]}, text=row["text"]
    )
    return node


def _in_list(column: str, values: Sequence[str]) -> str:
    if not values:
        return "FALSE"
    return f"{column} IN (" + ", ".join(sql_literal(str(v)) for v in values) + ")"


class LanceSpiralVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store on a compressed Lance table (stores text and full nodes).

    Args:
        uri: Table location (local path or ``s3://...``); a temporary directory when None.
        codec: lance-spiral codec spec for the vectors (``sq:bits=8``: 4x smaller than float32).
        metric: ``cosine`` (default), ``ip`` or ``l2``.
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept as well).
        table_kwargs: More ``lance_spiral.table.create_table`` arguments (``fit_rows``, ``nlist``).

    Query modes: ``DEFAULT`` and ``MMR`` (``mmr_threshold`` is the relevance/diversity trade-off,
    default 0.5). Similarities are higher-is-better (cosine similarity, inner product, or minus
    the squared L2 distance).
    """

    stores_text: bool = True
    flat_metadata: bool = False
    uri: str
    codec: str = "sq:bits=8"
    metric: str = "cosine"
    mode: str = "compressed"

    _table: DocumentStore = PrivateAttr()
    _tmp: Any = PrivateAttr(default=None)

    def __init__(
        self,
        uri: str | Path | None = None,
        *,
        codec: str = "sq:bits=8",
        metric: str = "cosine",
        mode: str = "compressed",
        table_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if metric not in ("cosine", "ip", "l2"):
            raise InvalidParameterError(f"metric must be cosine, ip or l2, got {metric!r}")
        tmp = None
        if uri is None:
            tmp = tempfile.TemporaryDirectory(prefix="lance-spiral-li-")
            uri = str(Path(tmp.name) / "store.lance")
        fields: dict[str, Any] = {"uri": str(uri), "codec": codec, "metric": metric, "mode": mode}
        super().__init__(**fields, **kwargs)
        self._tmp = tmp
        self._table = DocumentStore(
            self.uri, codec=codec, metric=metric, mode=mode, create_kwargs=table_kwargs
        )

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralVectorStore"

    @property
    def client(self) -> Any:
        """The underlying lance-spiral ``CompressedTable`` (None before the first add)."""
        return self._table.table

    # ------------------------------------------------------------------ writes

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert nodes (each must carry its embedding); returns their ids.

        Raises:
            InvalidInputError: If a node has no embedding or non-JSON metadata.
        """
        nodes = list(nodes)
        if not nodes:
            return []
        missing = [n.node_id for n in nodes if n.embedding is None]
        if missing:
            raise InvalidInputError(f"nodes without an embedding: {missing[:5]}")
        rows = [_node_row(n) for n in nodes]
        vectors = np.asarray([n.embedding for n in nodes], dtype=np.float32)
        ids = [n.node_id for n in nodes]
        extra = {
            "ref_doc_id": pa.array([r[1] for r in rows], pa.string()),
            "node_content": pa.array([r[2] for r in rows], pa.string()),
            "node_type": pa.array([r[3] for r in rows], pa.string()),
        }
        texts = [n.get_content() for n in nodes]
        self._table.upsert(ids, texts, [r[0] for r in rows], vectors, extra)
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
        self._table.delete_where("TRUE")

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _where(
        node_ids: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        filters: MetadataFilters | None,
    ) -> str | None:
        # LlamaIndex passes empty id lists to mean "no restriction" (e.g. VectorStoreIndex).
        parts = []
        if node_ids:
            parts.append(_in_list("id", node_ids))
        if doc_ids:
            parts.append(_in_list("ref_doc_id", doc_ids))
        sql = filters_to_sql(filters)
        if sql is not None:
            parts.append(sql)
        return predicates.and_(parts) if parts else None

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id (in the given order) and/or filter; every node when both are None."""
        if node_ids is not None and not node_ids and filters is None:
            return []
        if node_ids and filters is None:
            return [_row_node(r) for r in self._table.get([str(i) for i in node_ids])]
        return [_row_node(r) for r in self._table.where(self._where(node_ids, None, filters))]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Top-k nodes for ``query.query_embedding`` with filters, doc/node ids, MMR.

        Raises:
            InvalidParameterError: For a query mode other than DEFAULT / MMR, or no embedding.
        """
        if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise InvalidParameterError(
                f"query mode {query.mode.value!r} is not supported (use default or mmr)"
            )
        if query.query_embedding is None:
            raise InvalidParameterError("query.query_embedding is required")
        k = int(query.similarity_top_k)
        if k < 1:
            raise InvalidParameterError(f"similarity_top_k must be >= 1, got {k}")
        where = self._where(query.node_ids, query.doc_ids, query.filters)
        mmr = query.mode == VectorStoreQueryMode.MMR
        fetch = k * _MMR_FETCH_FACTOR if mmr else k
        qvec = np.asarray(query.query_embedding, dtype=np.float32)
        rows, vecs = self._table.search(qvec, fetch, where, with_vectors=mmr)
        scores = [float(r["_score"]) for r in rows]
        if mmr and rows and vecs is not None:
            threshold = 0.5 if query.mmr_threshold is None else float(query.mmr_threshold)
            scores, picked = get_top_k_mmr_embeddings(
                list(qvec),
                [list(v) for v in vecs],
                similarity_top_k=k,
                embedding_ids=list(range(len(rows))),
                mmr_threshold=threshold,
            )
            rows = [rows[i] for i in picked]
        nodes = [_row_node(r) for r in rows]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[float(s) for s in scores], ids=[r["id"] for r in rows]
        )

    # ------------------------------------------------------------------ async

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Async :meth:`add` (in a worker thread)."""
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, ref_doc_id)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Async :meth:`delete_nodes`."""
        await asyncio.to_thread(self.delete_nodes, node_ids, filters)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear)

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Async :meth:`get_nodes`."""
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async :meth:`query`."""
        return await asyncio.to_thread(self.query, query)
