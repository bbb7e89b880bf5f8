"""LlamaIndex nodes to table rows and back (exact round trip, metadata kept in its own column)."""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from lance_spiral.errors import InvalidInputError

__all__ = ["node_row", "row_node"]


def node_row(node: BaseNode) -> tuple[str, str, str, str]:
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


def row_node(row: dict[str, Any]) -> BaseNode:
    """The node a stored row holds."""
    body = json.loads(row["node_content"])
    body["metadata"] = json.loads(row["metadata"])
    return metadata_dict_to_node(
        {"_node_content": json.dumps(body), "_node_type": row["node_type"]}, text=row["text"])
