"""MCP tools over a database of collections (the official ``mcp`` SDK's ``MCPServer``).

Tools: ``list_collections``, ``search``, ``collection_stats`` (read), ``add_documents``,
``create_collection``, ``quantize`` (write; left out with ``read_only``). They call the same
:class:`~lance_spiral.server.service.Service` as the REST routes, so checks and errors are the
same; a library error comes back as a tool error (``isError``) carrying its message, for the
model to read and correct its call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from lance_spiral._optional import require
from lance_spiral.errors import LanceSpiralError
from lance_spiral.server.quantization import quantize as quantize_collection
from lance_spiral.server.service import Service

__all__ = ["READ_TOOLS", "WRITE_TOOLS", "build_mcp"]

READ_TOOLS = ("list_collections", "search", "collection_stats")
WRITE_TOOLS = ("add_documents", "create_collection", "quantize")

F = TypeVar("F", bound=Callable[..., Any])


def _tool_errors(fn: F) -> F:
    """Turn library errors into the SDK's ToolError (message kept for the model)."""
    tool_error = require("mcp.server.mcpserver.exceptions", "server").ToolError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LanceSpiralError as exc:
            raise tool_error(f"{type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def build_mcp(service: Service, *, read_only: bool = False, name: str = "lance-spiral") -> Any:
    """An ``MCPServer`` with the collection tools (writing tools dropped when ``read_only``).

    Run it with ``.run("stdio")`` / ``.run("streamable-http", host=..., port=...)``, or mount
    it in the REST app (``create_app(..., mcp=...)``).
    """
    sdk = require("mcp.server.mcpserver", "server")
    mcp = sdk.MCPServer(
        name, log_level="WARNING", instructions=(
            "Vector collections with compressed embeddings. search(collection, query, k) finds"
            " the rows nearest a text; filters use a dict language such as"
            " {\"year\": {\"$gte\": 2000}}. collection_stats shows bytes, measured recall and"
            " latency."))

    @mcp.tool()
    @_tool_errors
    def list_collections() -> dict[str, Any]:
        """List the collections: name, rows, vector width, metric, codec and version."""
        return {"collections": service.list_collections()}

    @mcp.tool()
    @_tool_errors
    def search(collection: str, query: str, k: int = 5,
               filter: dict[str, Any] | None = None) -> dict[str, Any]:
        """Find the k rows nearest a text query in a collection.

        Args:
            collection: Collection name.
            query: The text to search for (embedded by the server).
            k: Number of results (1-1000).
            filter: Optional dict filter on metadata, e.g. {"year": {"$gte": 2000}}.
        """
        return service.search(collection, text=query, k=k, filter=filter)

    @mcp.tool()
    @_tool_errors
    def collection_stats(collection: str) -> dict[str, Any]:
        """A collection's rows, bytes, compression, measured recall@10 and search latency.

        Bytes per vector, disk vs float32 and the compression ratio; recall is measured on the
        collection's own vectors against exact search.
        """
        return service.stats(collection)

    @mcp.tool()
    @_tool_errors
    def add_documents(collection: str, texts: list[str],
                      metadata: list[dict[str, Any]] | None = None,
                      ids: list[str] | None = None) -> dict[str, Any]:
        """Add texts to a collection (embedded by the server), with optional metadata and ids.

        Args:
            collection: Collection name (create it first with create_collection).
            texts: The documents.
            metadata: One object per text; its keys become filterable fields.
            ids: One id per text (default: new ids).
        """
        return service.add(collection, ids=ids, texts=texts, metadata=metadata)

    @mcp.tool()
    @_tool_errors
    def create_collection(collection: str, codec: str = "sq:bits=8",
                          metric: str = "cosine") -> dict[str, Any]:
        """Create an empty collection sized for the server's text embedder.

        Args:
            collection: New collection name (letters, digits, '_' or '-').
            codec: Codec spec such as sq:bits=8 (default), sq:bits=4, pq:m=48.
            metric: cosine (default), ip or l2.
        """
        dim = service.embedder_dim()
        return service.create_collection(collection, dim, metric, codec)

    @mcp.tool()
    @_tool_errors
    def quantize(collection: str, codec: str | None = None,
                 target_recall: float | None = None) -> dict[str, Any]:
        """Re-encode a collection with a codec, or the smallest one meeting a recall target.

        Give exactly one of codec and target_recall.

        Args:
            collection: Collection name.
            codec: Codec spec such as sq:bits=4 or pq:m=48.
            target_recall: Recall@10 target in (0, 1], e.g. 0.95.
        """
        return quantize_collection(service, collection, codec=codec,
                                   target_recall=target_recall)

    if read_only:
        for tool in WRITE_TOOLS:
            mcp.remove_tool(tool)
    return mcp
