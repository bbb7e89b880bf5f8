"""A local HTTP server that speaks the bedrock-runtime InvokeModel protocol for Titan embeddings.

It is a real server on 127.0.0.1 (``ThreadingHTTPServer``, port 0), reached by boto3 through
``endpoint_url``: requests are SigV4-signed by botocore, sent as ``POST /model/{modelId}/invoke``
with a JSON body, and answered the way Bedrock answers them: ``{"embedding": [...],
"inputTextTokenCount": n}`` (plus ``embeddingsByType`` for Titan v2), or an error with the
``x-amzn-ErrorType`` header, a ``{"message": ...}`` body and Bedrock's HTTP status.

Embeddings are deterministic functions of (model, text, dimensions) -- see
:func:`reference_embedding` -- so a test can check every returned row. Failures are scripted per
text (:meth:`BedrockServer.fail_text`) or for the next requests whatever their text
(:meth:`BedrockServer.fail_next`); every request is counted.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import numpy as np

V1_IDS = ("amazon.titan-embed-text-v1", "amazon.titan-embed-g1-text-02")
V2_IDS = ("amazon.titan-embed-text-v2:0",)

# Bedrock's error types and HTTP statuses (bedrock-runtime API reference, InvokeModel errors).
ERROR_STATUS = {
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def token_count(text: str) -> int:
    """The server's token count: words and punctuation marks (a stand-in for Titan's tokenizer)."""
    return len(_TOKEN_RE.findall(text))


def reference_embedding(
    model_id: str, text: str, *, dimensions: int = 1024, normalize: bool = True
) -> np.ndarray:
    """The float embedding the server returns for ``text`` (float32, hash-seeded Gaussian)."""
    dim = 1536 if model_id in V1_IDS else dimensions
    seed = int.from_bytes(hashlib.sha256(f"{model_id}\0{text}".encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    if model_id in V1_IDS or not normalize:
        return v * np.float32(0.05)  # un-normalised, like Titan v1's raw output
    return v / np.float32(np.linalg.norm(v))


class BedrockServer:
    """The server and its scripted behaviour. Use as a context manager or call :meth:`close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.text_counts: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.delay = 0.0  # seconds each successful request takes (to observe concurrency)
        self.inflight = 0
        self.max_inflight = 0
        self._text_failures: dict[str, deque[str]] = {}
        self._next_failures: deque[str] = deque()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` for boto3's ``endpoint_url``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_text(self, text: str, errors: list[str]) -> None:
        """Answer the next ``len(errors)`` requests for ``text`` with these errors, in order."""
        with self._lock:
            self._text_failures.setdefault(text, deque()).extend(errors)

    def fail_next(self, errors: list[str]) -> None:
        """Answer the next requests (any text) with these error types, in order."""
        with self._lock:
            self._next_failures.extend(errors)

    def reset(self) -> None:
        """Zero the counters, drop pending failure scripts, remove the delay."""
        with self._lock:
            self._text_failures.clear()
            self._next_failures.clear()
            self.delay = 0.0
            self.requests = 0
            self.ok = 0
            self.max_inflight = 0
            self.text_counts.clear()
            self.auth_headers.clear()
            self.bodies.clear()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> BedrockServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- request handling ------------------------------------------------------------------

    def _scripted_error(self, text: str | None) -> str | None:
        with self._lock:
            if self._next_failures:
                return self._next_failures.popleft()
            if text is not None and self._text_failures.get(text):
                return self._text_failures[text].popleft()
        return None

    def handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: ``(status, headers, body)``."""
        m = re.fullmatch(r"/model/([^/]+)/invoke", path)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        text = body.get("inputText") if isinstance(body, dict) else None
        with self._lock:
            self.requests += 1
            self.auth_headers.append(str(headers.get("Authorization", "")))
            if isinstance(body, dict):
                self.bodies.append(body)
            if isinstance(text, str):
                self.text_counts[text] += 1
        if not str(headers.get("Authorization", "")).startswith("AWS4-HMAC-SHA256"):
            return _error("AccessDeniedException", "request is not SigV4-signed")
        if m is None:
            return _error("ResourceNotFoundException", f"unknown path {path}")
        model_id = unquote(m.group(1))
        if model_id not in V1_IDS + V2_IDS:
            return _error("ResourceNotFoundException", "The provided model identifier is invalid.")
        scripted = self._scripted_error(text if isinstance(text, str) else None)
        if scripted is not None:
            return _error(scripted, f"scripted {scripted}")
        if not isinstance(body, dict):
            return _error("ValidationException", "Malformed input request, please reformat.")
        problem = _validate(model_id, body)
        if problem:
            return _error("ValidationException", problem)
        return self._embed(model_id, body)

    def _embed(self, model_id: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        text = body["inputText"]
        dims = int(body.get("dimensions", 1024))
        normalize = bool(body.get("normalize", True))
        vec = reference_embedding(model_id, text, dimensions=dims, normalize=normalize)
        out: dict[str, Any] = {"inputTextTokenCount": token_count(text)}
        if model_id in V1_IDS:
            out["embedding"] = vec.tolist()
        else:
            types = body.get("embeddingTypes", ["float"])
            by_type: dict[str, Any] = {}
            if "float" in types:
                out["embedding"] = vec.tolist()
                by_type["float"] = vec.tolist()
            if "binary" in types:
                by_type["binary"] = (vec > 0).astype(int).tolist()
            out["embeddingsByType"] = by_type
        with self._lock:
            self.ok += 1
        return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                with server._lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    status, headers, payload = server.handle(self.path, self.headers, raw)
                    if status == 200 and server.delay:
                        time.sleep(server.delay)
                finally:
                    with server._lock:
                        server.inflight -= 1
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        return Handler


def _validate(model_id: str, body: dict[str, Any]) -> str | None:
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        return "Malformed input request: expected minLength: 1, actual: 0"
    if len(text) > 50_000:
        return f"Malformed input request: expected maxLength: 50000, actual: {len(text)}"
    if token_count(text) > 8192:
        return "400 Bad Request: Too many input tokens. Max input tokens: 8192"
    allowed = {"inputText"} if model_id in V1_IDS else {
        "inputText", "dimensions", "normalize", "embeddingTypes"}
    extra = sorted(set(body) - allowed)
    if extra:
        return f"Malformed input request: extraneous key [{extra[0]}] is not permitted"
    if "dimensions" in body and body["dimensions"] not in (256, 512, 1024):
        return "Malformed input request: dimensions must be one of 256, 512, 1024"
    types = body.get("embeddingTypes", ["float"])
    if not isinstance(types, list) or not types or not set(types) <= {"float", "binary"}:
        return "Malformed input request: embeddingTypes must be a subset of [float, binary]"
    return None


def _error(error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    status = ERROR_STATUS.get(error_type, 500)
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
    }
    return status, headers, json.dumps({"message": message}).encode()
