"""ASGI middleware of the server: request metrics, bearer-key auth, request-body limit.

Plain ASGI (not ``BaseHTTPMiddleware``) so a refused request never reaches a route and a body
over the limit is cut off while it streams, not after it has been read whole.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from lance_spiral.server.metrics import ServerMetrics

__all__ = ["AuthMiddleware", "BodyLimitMiddleware", "BodyTooLarge", "MetricsMiddleware",
           "send_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})


async def send_json(send: Send, status: int, error: str, detail: str,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON error response ``{"error", "detail"}``."""
    body = json.dumps({"error": error, "detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Counts every HTTP request and its latency, labelled by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and count it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]
        t0 = time.perf_counter()

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in OPEN_PATHS else "unmatched")
            self.metrics.observe(scope["method"], label, status[0], time.perf_counter() - t0)


class AuthMiddleware:
    """Every path but ``/health`` needs ``Authorization: Bearer <key>`` (when a key is set)."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self._key = api_key.encode("utf-8") if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request if it carries the key (or needs none)."""
        if self._key is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                given = value
                break
        scheme, _, token = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
            await send_json(send, 401, "Unauthorized",
                            "this server needs 'Authorization: Bearer <api key>'",
                            [(b"www-authenticate", b'Bearer realm="lance-spiral"')])
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """A request body went over the limit while streaming (FastAPI answers it with 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the server's limit of {limit} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request unless its body is over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over the server's limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json(send, 400, "BadRequest", "bad Content-Length header")
                    return
                if declared > self.max_bytes:
                    await send_json(send, 413, "PayloadTooLarge", detail)
                    return
        seen = [0]
        started = [False]

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started[0]:
                await send_json(send, 413, "PayloadTooLarge", detail)
