"""``lance-spiral serve`` (REST + dashboard + MCP over HTTP) and ``lance-spiral mcp``.

Arguments are declared here without importing the ``[server]`` extra, so ``lance-spiral --help``
works without it; running either command names the extra when it is missing.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import TYPE_CHECKING

from lance_spiral._optional import require
from lance_spiral.errors import InvalidParameterError

if TYPE_CHECKING:
    from lance_spiral.server.service import Service

__all__ = ["add_mcp_arguments", "add_serve_arguments", "run_mcp", "run_serve",
           "storage_options"]

API_KEY_ENV = "LANCE_SPIRAL_API_KEY"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True,
                        help="folder (or s3://bucket/prefix) holding the collections")
    parser.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                        help="Lance storage option for object stores (repeatable; never logged)")
    parser.add_argument("--embedder", default=None, metavar="DIR",
                        help="approximator folder to embed texts with (default: the shipped"
                             " model, or $LANCE_SPIRAL_APPROXIMATOR)")
    parser.add_argument("--reference-rows", type=int, default=2000,
                        help="float vectors kept per collection to measure recall (default 2000)")
    parser.add_argument("--memory", choices=["ram", "disk"], default="ram",
                        help="ram: every code resident (default); disk: only the candidate codes"
                             " resident, re-rank codes read per query")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="with --memory disk: local folder caching code columns (for s3://)")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lance-spiral serve``."""
    _common(parser)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--api-key", default=None,
                        help=f"require 'Authorization: Bearer KEY' on every route but /health"
                             f" (default: ${API_KEY_ENV})")
    parser.add_argument("--max-body-mb", type=float, default=64.0,
                        help="largest request body in MiB (default 64)")
    parser.add_argument("--no-mcp", action="store_true",
                        help="do not serve the MCP tools at /mcp")
    parser.add_argument("--mcp-read-only", action="store_true",
                        help="serve only the reading MCP tools at /mcp")
    parser.add_argument("--log-level", default="warning",
                        choices=["critical", "error", "warning", "info", "debug"])


def add_mcp_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lance-spiral mcp``."""
    _common(parser)
    parser.add_argument("--read-only", action="store_true",
                        help="only list_collections, search and collection_stats")
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio",
                        help="stdio (default) or streamable-http")
    parser.add_argument("--host", default="127.0.0.1", help="bind address for streamable-http")
    parser.add_argument("--port", type=int, default=8001, help="port for streamable-http")


def storage_options(items: list[str]) -> dict[str, str] | None:
    """``["KEY=VALUE", ...]`` as a dict (``None`` when empty).

    Raises:
        InvalidParameterError: An item without ``=`` (the value is never echoed).
    """
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidParameterError(
                f"--storage-option takes KEY=VALUE, got an item starting {item[:8]!r}...")
        out[key.strip()] = value
    return out or None


def _service(args: argparse.Namespace) -> Service:
    from lance_spiral.server.catalog import Catalog
    from lance_spiral.server.service import Service

    catalog = Catalog(args.db, storage_options=storage_options(args.storage_option),
                      reference_rows=args.reference_rows, memory=args.memory,
                      cache_dir=args.cache_dir)
    return Service(catalog, embedder_dir=args.embedder)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    """Run the REST server (blocks until stopped)."""
    for module in ("fastapi", "uvicorn", "mcp", "prometheus_client"):
        require(module, "server")
    import uvicorn

    from lance_spiral.server.app import create_app
    from lance_spiral.server.mcp_tools import build_mcp

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if args.max_body_mb <= 0:
        raise InvalidParameterError("--max-body-mb must be positive")
    service = _service(args)
    mcp = None if args.no_mcp else build_mcp(service, read_only=args.mcp_read_only)
    app = create_app(service, api_key=api_key, mcp=mcp, host=args.host,
                     max_body_bytes=int(args.max_body_mb * 1024 * 1024))
    if not _is_loopback(args.host) and api_key is None:
        print(f"lance-spiral: warning: serving on {args.host} without an API key: anyone who"
              " reaches this address can read and change every collection", file=sys.stderr)
    print(f"lance-spiral: serving {args.db} on http://{args.host}:{args.port}"
          " (dashboard /, API /docs, metrics /metrics"
          f"{'' if mcp is None else ', MCP /mcp'}{', key required' if api_key else ''})",
          file=sys.stderr, flush=True)
    # Keep-alive longer than clients' own idle expiry (httpx: 5 s), so the server never closes
    # a connection at the moment a client reuses it.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=args.log_level in ("info", "debug"), timeout_keep_alive=30)
    return 0


def run_mcp(args: argparse.Namespace) -> int:
    """Run the MCP server on stdio or streamable HTTP (blocks until stopped)."""
    require("mcp", "server")
    from lance_spiral.server.mcp_tools import build_mcp

    mcp = build_mcp(_service(args), read_only=args.read_only)
    if args.transport == "stdio":
        mcp.run("stdio")
    else:
        mcp.run("streamable-http", host=args.host, port=args.port)
    return 0
