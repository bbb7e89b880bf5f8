"""The REST app: FastAPI routes over a :class:`~lance_spiral.server.service.Service`.

Errors are JSON ``{"error": <class>, "detail": <message>}``: bad input is 4xx (400 bad values,
404 unknown collection, 409 a name or id already taken, 413 body too large, 422 a body that does
not match the schema), a missing text embedder 503, and only a fault of the server 500.
"""

from __future__ import annotations

import contextlib
import http
import logging
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from lance_spiral import errors
from lance_spiral.server import dashboard
from lance_spiral.server.metrics import CONTENT_TYPE, ServerMetrics
from lance_spiral.server.middleware import AuthMiddleware, BodyLimitMiddleware, MetricsMiddleware
from lance_spiral.server.quantization import optimize, quantize
from lance_spiral.server.schemas import (
    AddBody,
    CreateCollectionBody,
    DeleteRowsBody,
    ErrorBody,
    GetRowsBody,
    OptimizeBody,
    QuantizeBody,
    SearchBody,
)
from lance_spiral.server.service import Service

__all__ = ["DEFAULT_MAX_BODY", "create_app", "status_of"]

log = logging.getLogger("lance_spiral.server")

DEFAULT_MAX_BODY = 64 * 1024 * 1024
M = TypeVar("M", bound=BaseModel)

_STATUS: list[tuple[type[Exception], int]] = [
    (errors.NotFoundError, 404),
    (errors.TableError, 409),
    (errors.EmbeddingError, 503),
    (errors.MissingDependencyError, 503),
    (errors.CorruptDataError, 500),
    (errors.FormatVersionError, 500),
    (errors.InvalidInputError, 400),
    (errors.InvalidParameterError, 400),
    (errors.UnknownCodecError, 400),
    (errors.DTypeError, 400),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 503)}


def status_of(exc: errors.LanceSpiralError) -> int:
    """The HTTP status of a library error."""
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 400 if isinstance(exc, ValueError) else 500


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.LanceSpiralError)
    async def library_error(_: Request, exc: Exception) -> JSONResponse:
        code = status_of(exc)  # type: ignore[arg-type]
        if code >= 500:
            log.error("server-side failure: %s", exc, exc_info=exc)
        return _error(code, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_body(_: Request, exc: Exception) -> JSONResponse:
        problems = []
        for e in exc.errors()[:10]:  # type: ignore[attr-defined]
            where = ".".join(str(p) for p in e.get("loc", ()))
            problems.append(f"{where}: {e.get('msg')}")
        return _error(422, "ValidationError", "; ".join(problems) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        code = int(exc.status_code)  # type: ignore[attr-defined]
        phrase = http.HTTPStatus(code).phrase.replace(" ", "")
        return _error(code, phrase, str(exc.detail))  # type: ignore[attr-defined]

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected failure", exc_info=exc)
        return _error(500, "InternalError", f"internal error ({type(exc).__name__});"
                      " the server log has the details")


def create_app(service: Service, *, api_key: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY, mcp: Any = None,
               host: str = "127.0.0.1") -> FastAPI:
    """The ASGI app over ``service``.

    Args:
        service: The collections and their operations.
        api_key: When set, every route but ``/health`` needs ``Authorization: Bearer <key>``.
        max_body_bytes: Largest request body accepted (413 beyond).
        mcp: An ``MCPServer`` (:func:`lance_spiral.server.mcp_tools.build_mcp`) to serve over
            streamable HTTP at ``/mcp``, behind the same key.
        host: The address served (the MCP route checks Host/Origin headers on loopback).
    """
    mcp_app = (mcp.streamable_http_app(streamable_http_path="/mcp", host=host)
               if mcp is not None else None)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if mcp is None:
            yield
            return
        async with mcp.session_manager.run():
            yield

    app = FastAPI(title="lance-spiral", version=_version(), lifespan=lifespan,
                  description="Compressed vector collections: add, search, quantise, measure.")
    _add_handlers(app)
    _add_routes(app, service)
    dashboard.add_routes(app, service)
    if mcp_app is not None:
        app.router.routes.extend(mcp_app.routes)
    metrics = ServerMetrics(lambda: _collection_metrics(service))

    @app.get("/metrics", response_class=Response, tags=["ops"])
    def prometheus() -> Response:
        """Prometheus text format: requests, latencies, per-collection figures."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)  # type: ignore[arg-type]
    app.add_middleware(AuthMiddleware, api_key=api_key)  # type: ignore[arg-type]
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # type: ignore[arg-type]
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lance-spiral")
    except PackageNotFoundError:
        return "0"


def _collection_metrics(service: Service) -> list[tuple[str, dict[str, Any],
                                                        dict[str, Any] | None]]:
    out = []
    for name in service.catalog.names():
        try:
            col = service.catalog.get(name)
        except errors.NotFoundError:
            continue
        live = {"rows": col.table.count_rows(), "version": col.table.version}
        out.append((name, live, service.stats_cache.latest(name)))
    return out


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


async def _parsed(request: Request, model: type[M]) -> M:
    """A large body parsed off the event loop (pydantic's JSON parser, ~3x ``json.loads``)."""
    raw = await request.body()
    try:
        return await run_in_threadpool(model.model_validate_json, raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


def _add_routes(app: FastAPI, service: Service) -> None:
    tags: list[str | Enum] = ["collections"]

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness (no key needed)."""
        return {"status": "ok", "version": _version()}

    @app.get("/collections", tags=tags, responses=_ERRORS)
    def list_collections() -> dict[str, Any]:
        """Every collection with its rows, dim, metric, codec and version."""
        return {"collections": service.list_collections()}

    @app.post("/collections", status_code=201, tags=tags, responses=_ERRORS)
    def create_collection(body: CreateCollectionBody) -> dict[str, Any]:
        """Create an empty collection."""
        return service.create_collection(body.name, body.dim, body.metric, body.codec,
                                         body.mode)

    @app.get("/collections/{name}", tags=tags, responses=_ERRORS)
    def get_collection(name: str) -> dict[str, Any]:
        """One collection's summary."""
        return service.describe(name)

    @app.delete("/collections/{name}", tags=tags, responses=_ERRORS)
    def drop_collection(name: str) -> dict[str, Any]:
        """Delete a collection and everything the server kept for it."""
        return service.drop_collection(name)

    @app.post("/collections/{name}/add", tags=tags, responses=_ERRORS,
              openapi_extra=_json_body(AddBody))
    async def add(name: str, request: Request) -> dict[str, Any]:
        """Add rows: vectors, or texts embedded by the server; one commit."""
        body = await _parsed(request, AddBody)
        out: dict[str, Any] = await run_in_threadpool(
            service.add, name, ids=body.ids, vectors=body.vectors, texts=body.texts,
            metadata=body.metadata)
        return out

    @app.post("/collections/{name}/search", tags=tags, responses=_ERRORS)
    def search(name: str, body: SearchBody) -> dict[str, Any]:
        """Top-k rows for a vector or a text, optionally filtered (dict filter language)."""
        return service.search(name, vector=body.vector, text=body.text, k=body.k,
                              filter=body.filter)

    @app.post("/collections/{name}/get", tags=tags, responses=_ERRORS)
    def get_rows(name: str, body: GetRowsBody) -> dict[str, Any]:
        """Rows by id."""
        return service.get_rows(name, body.ids)

    @app.delete("/collections/{name}/rows", tags=tags, responses=_ERRORS)
    def delete_rows(name: str, body: DeleteRowsBody) -> dict[str, Any]:
        """Delete rows by ids or by a dict filter."""
        return service.delete_rows(name, ids=body.ids, filter=body.filter)

    qtags: list[str | Enum] = ["quantization"]

    @app.post("/collections/{name}/quantize", tags=qtags, responses=_ERRORS)
    def quantize_route(name: str, body: QuantizeBody) -> dict[str, Any]:
        """Re-encode a live collection with a codec (or the one meeting a recall target)."""
        return quantize(service, name, codec=body.codec, target_recall=body.target_recall,
                        mode=body.mode)

    @app.get("/collections/{name}/quantization/stats", tags=qtags, responses=_ERRORS)
    def stats(name: str) -> dict[str, Any]:
        """Bytes, compression, measured recall@10 and latency (cached per version)."""
        return service.stats(name)

    @app.get("/collections/{name}/quantization/history", tags=qtags, responses=_ERRORS)
    def history(name: str) -> dict[str, Any]:
        """Every codec measured on this collection (recall@10 and bytes)."""
        return {"name": name, "history": service.history(name)}

    @app.post("/collections/{name}/quantization/optimize", tags=qtags, responses=_ERRORS)
    def optimize_route(name: str, body: OptimizeBody) -> dict[str, Any]:
        """Pick the fewest-bytes codec meeting a recall target, apply it, return what was measured.

        ``choose_codec`` runs on the collection's own reference vectors.
        """
        return optimize(service, name, target_recall=body.target_recall,
                        candidates=body.candidates)
