"""Amazon Titan text embeddings through Bedrock (``[bedrock]`` extra: boto3).

Bedrock's InvokeModel embeds one text per call, bills per input token and throttles per minute.
:class:`BedrockEmbedder` therefore

* deduplicates a batch and answers repeats from a :class:`~lance_spiral.embed.cache.TieredCache`
  (in memory by default; ``cache_dir`` adds the on-disk Lance tier that survives restarts);
* sends the remaining texts concurrently (a thread pool) behind a token-bucket limiter for
  requests per minute and tokens per minute (tokens estimated as characters / 4 until the service
  reports ``inputTextTokenCount``, then from the observed characters-per-token ratio);
* retries ThrottlingException, ServiceUnavailableException, ModelTimeoutException,
  ModelNotReadyException, InternalServerException, other 5xx and connection errors with jittered
  exponential backoff, and never retries ValidationException, AccessDeniedException or other
  client errors. botocore's own retries are switched off so that ``max_retries`` is the truth;
* checks input length (50,000 characters; 8,192 tokens estimated at 4 characters per token,
  which is conservative for English) before any call.

Credentials come from boto3's usual chain and are never logged nor put in an exception message.
botocore's own DEBUG logging prints signed requests (the access key id in ``Authorization``,
the session token in ``X-Amz-Security-Token``); constructing a :class:`BedrockEmbedder` installs
a filter on the ``botocore.auth`` and ``botocore.endpoint`` loggers that redacts both.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lance_spiral._optional import require
from lance_spiral.embed.bedrock.ratelimit import RateLimiter, backoff_delay
from lance_spiral.embed.bedrock.session import install_log_redaction, make_client
from lance_spiral.embed.bedrock.titan import (
    MAX_INPUT_CHARS,
    MAX_INPUT_TOKENS,
    check_length,
    output_dim,
    request_body,
    resolve_version,
    response_vector,
)
from lance_spiral.embed.cache import TieredCache, cached_embed
from lance_spiral.embed.protocol import check_texts
from lance_spiral.errors import InvalidParameterError, RemoteServiceError

__all__ = ["MAX_INPUT_CHARS", "MAX_INPUT_TOKENS", "BedrockEmbedder"]

logger = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({
    "ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException",
    "ModelTimeoutException", "ModelNotReadyException", "InternalServerException",
})
_RETRYABLE_BOTOCORE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                       "ConnectionClosedError", "ConnectionError")


class _AbortedError(Exception):
    """Another request of the same batch failed: stop quietly."""


class BedrockEmbedder:
    """Titan text embeddings (v1: 1536-d; v2: 1024/512/256-d) with caching and rate limits.

    Args:
        model_id: ``amazon.titan-embed-text-v2:0`` (default), ``amazon.titan-embed-text-v1``
            or ``amazon.titan-embed-g1-text-02``; other ids (ARNs, profiles) need ``titan_version``.
        endpoint_url: bedrock-runtime endpoint override (VPC endpoint, local test server).
        region_name: AWS region (default: boto3's configuration, else ``us-east-1``).
        cache_dir: Folder for the on-disk cache tier (Lance); ``None`` keeps the cache in memory.
        dimensions: Output width; v2 accepts 256, 512, 1024 (default 1024); v1 is 1536.
        normalize: Unit-normalise the vectors (v2 server-side; v1 here, since v1 cannot).
        embedding_type: ``"float"`` or ``"binary"`` (v2 only; returned as float32 0.0/1.0).
        max_concurrency: Requests in flight at once (threads).
        requests_per_minute: Request quota to stay under (``None`` = unlimited). The default
            is a conservative guess: set your account's Service Quotas value.
        tokens_per_minute: Input-token quota (``None`` = unlimited); same caveat.
        burst_seconds: Limiter bucket size, in seconds of quota.
        max_retries: Retries after the first attempt for retryable errors.
        backoff_base: First backoff delay scale in seconds (doubles per retry).
        backoff_cap: Longest backoff delay in seconds.
        cache: ``True`` (default) builds a :class:`TieredCache` (with L3 if ``cache_dir``),
            ``False`` disables caching, or pass your own cache (its ``model`` must be
            :attr:`cache_key`).
        l1_bytes: L1 budget of a cache built here.
        l2_bytes: L2 budget of a cache built here.
        l2_codec: L2 codec of a cache built here.
        titan_version: 1 or 2 when the model id does not say.
        connect_timeout: Seconds.
        read_timeout: Seconds.
        client: A ready ``bedrock-runtime`` client (its retry settings are then yours).
        clock: Monotonic clock for the limiter (injectable).
        sleep: Sleep for the limiter and backoff (injectable).
        seed: Seed of the backoff jitter.
        progress: Show a tqdm bar while embedding.

    Raises:
        InvalidParameterError: Inconsistent options (e.g. v1 with dimensions=512).
        MissingDependencyError: boto3 is not installed (``pip install 'lance-spiral[bedrock]'``).
    """

    def __init__(
        self,
        model_id: str = "amazon.titan-embed-text-v2:0",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        cache_dir: str | Path | None = None,
        dimensions: int | None = None,
        normalize: bool = True,
        embedding_type: Literal["float", "binary"] = "float",
        max_concurrency: int = 8,
        requests_per_minute: float | None = 2000,
        tokens_per_minute: float | None = 300_000,
        burst_seconds: float = 1.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        cache: TieredCache | bool = True,
        l1_bytes: int = 64 << 20,
        l2_bytes: int = 256 << 20,
        l2_codec: str = "float16",
        titan_version: int | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        progress: bool = False,
    ) -> None:
        if not isinstance(model_id, str) or not model_id:
            raise InvalidParameterError(f"model_id must be a non-empty string, got {model_id!r}")
        self.model_id = model_id
        self.version = resolve_version(model_id, titan_version)
        self._dim = output_dim(model_id, self.version, dimensions, embedding_type)
        for label, v, lo in (("max_concurrency", max_concurrency, 1),
                             ("max_retries", max_retries, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidParameterError(f"{label} must be an int >= {lo}, got {v!r}")
        if not backoff_base > 0 or not backoff_cap >= backoff_base:
            raise InvalidParameterError("need 0 < backoff_base <= backoff_cap")
        self.normalize = bool(normalize)
        self.embedding_type = embedding_type
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_base, self.backoff_cap = float(backoff_base), float(backoff_cap)
        self.progress = progress
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute,
                                   burst_seconds=burst_seconds, clock=clock, sleep=sleep)
        self._chars_per_token = 4.0
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("requests", "embedded", "retries", "throttled", "failures",
                                      "input_tokens"), 0)
        self.cache: TieredCache | None
        if isinstance(cache, TieredCache):
            if cache.model != self.cache_key:
                raise InvalidParameterError(
                    f"cache holds model {cache.model!r}, this embedder is {self.cache_key!r}")
            self.cache = cache
        elif cache is True:
            self.cache = TieredCache(self.cache_key, l1_bytes=l1_bytes, l2_bytes=l2_bytes,
                                     l2_codec=l2_codec, l3_dir=cache_dir)
        elif cache is False:
            if cache_dir is not None:
                raise InvalidParameterError("cache_dir needs cache=True")
            self.cache = None
        else:
            raise InvalidParameterError(f"cache must be a TieredCache or a bool, got {cache!r}")
        install_log_redaction()
        self._client = client if client is not None else make_client(
            endpoint_url, region_name, max_concurrency, connect_timeout, read_timeout)

    @property
    def dim(self) -> int:
        """Output width."""
        return self._dim

    @property
    def cache_key(self) -> str:
        """Model key of the cache: everything that changes the vectors."""
        return (f"bedrock:{self.model_id}:dim={self._dim}:normalize={self.normalize}"
                f":type={self.embedding_type}")

    def __repr__(self) -> str:
        return f"BedrockEmbedder({self.model_id!r}, dim={self._dim}, type={self.embedding_type!r})"

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embed texts: float32 ``[len(texts), dim]`` in input order.

        Args:
            texts: Non-empty list of non-empty strings, each within the length limits.

        Returns:
            The embeddings (0.0/1.0 values for ``embedding_type="binary"``).

        Raises:
            DTypeError: Not a list of str.
            EmptyInputError: Empty list.
            InvalidInputError: An empty or overlong text (checked before any call).
            RemoteServiceError: The service refused, or retries ran out (names model and code).
        """
        items = check_texts(texts)
        for i, t in enumerate(items):
            check_length(i, t)
        return cached_embed(items, self.cache, self._embed_remote)

    async def aembed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """:meth:`embed` in a worker thread (for async frameworks)."""
        import asyncio

        return await asyncio.to_thread(self.embed, texts)

    def stats(self) -> dict[str, Any]:
        """Request/retry/token counters, limiter sleep time and the cache's counters."""
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
        out["limiter_wait_s"] = sum(
            b.waited for b in (self.limiter.requests, self.limiter.tokens) if b is not None)
        if self.cache is not None:
            out["cache"] = self.cache.stats()
        return out

    def close(self) -> None:
        """Flush the on-disk cache tier."""
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> BedrockEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _request(self, text: str) -> dict[str, Any]:
        return request_body(text, version=self.version, dim=self._dim, normalize=self.normalize,
                            embedding_type=self.embedding_type)

    def _embed_remote(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        abort = threading.Event()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="bedrock", unit="text")
        try:
            if self.max_concurrency == 1 or len(texts) == 1:
                for i, t in enumerate(texts):
                    out[i] = self._invoke(t, abort)
                    if bar is not None:
                        bar.update(1)
                return out
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(texts)),
                                    thread_name_prefix="bedrock") as pool:
                futures = {pool.submit(self._invoke, t, abort): i for i, t in enumerate(texts)}
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    for f in done:
                        if f.exception() is not None:
                            abort.set()
                            for p in pending:
                                p.cancel()
                            raise _first_error(futures)
                        out[futures[f]] = f.result()
                    if bar is not None:
                        bar.update(len(done))
            return out
        finally:
            if bar is not None:
                bar.close()

    def _invoke(self, text: str, abort: threading.Event) -> npt.NDArray[np.float32]:
        with self._lock:
            est = max(1, math.ceil(len(text) / self._chars_per_token))
        attempt = 0
        while True:
            if abort.is_set():
                raise _AbortedError
            self.limiter.acquire(est)
            with self._lock:
                self._counts["requests"] += 1
            try:
                payload = self._call(text)
            except _RetryableError as exc:
                self.limiter.correct_tokens(est, 0)  # a refused call consumed no tokens
                with self._lock:
                    self._counts["throttled"] += exc.code in ("ThrottlingException",
                                                              "TooManyRequestsException")
                    if attempt >= self.max_retries:
                        self._counts["failures"] += 1
                        raise RemoteServiceError(
                            f"Bedrock InvokeModel for model {self.model_id!r} failed with "
                            f"{exc.code} (HTTP {exc.status}) after {attempt + 1} attempts: "
                            f"{exc.message}") from None
                    self._counts["retries"] += 1
                delay = backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap,
                                      rng=self._rng)
                logger.info("Bedrock %s for %s (attempt %d); retrying in %.2f s",
                            exc.code, self.model_id, attempt + 1, delay)
                self._sleep(delay)
                attempt += 1
                continue
            return self._parse(payload, text, est)

    def _call(self, text: str) -> dict[str, Any]:
        botocore_exc = require("botocore.exceptions", "bedrock")
        try:
            resp = self._client.invoke_model(
                modelId=self.model_id, body=json.dumps(self._request(text)),
                contentType="application/json", accept="application/json")
            raw = resp["body"].read()
        except botocore_exc.ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code") or "UnknownError")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = str(err.get("Message") or "")
            if code in RETRYABLE_CODES or (isinstance(status, int) and status >= 500):
                raise _RetryableError(code, status, message) from None
            with self._lock:
                self._counts["failures"] += 1
            raise RemoteServiceError(
                f"Bedrock InvokeModel for model {self.model_id!r} failed with {code} "
                f"(HTTP {status}), not retried: {message}") from None
        except botocore_exc.NoCredentialsError:
            raise RemoteServiceError(
                f"Bedrock InvokeModel for model {self.model_id!r}: no AWS credentials found "
                "(configure boto3's credential chain)") from None
        except botocore_exc.BotoCoreError as exc:
            name = type(exc).__name__
            if name in _RETRYABLE_BOTOCORE or isinstance(exc, botocore_exc.ConnectionError):
                raise _RetryableError(name, None, "connection problem") from None
            raise RemoteServiceError(
                f"Bedrock InvokeModel for model {self.model_id!r} failed: {name}") from None
        try:
            payload = json.loads(raw)
        except (ValueError, TypeError):
            raise RemoteServiceError(
                f"Bedrock model {self.model_id!r} returned a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise RemoteServiceError(f"Bedrock model {self.model_id!r} returned {type(payload)}")
        return payload

    def _parse(self, payload: dict[str, Any], text: str, est: int) -> npt.NDArray[np.float32]:
        vec = response_vector(payload, model_id=self.model_id, version=self.version,
                              embedding_type=self.embedding_type, dim=self._dim,
                              normalize=self.normalize)
        tokens = payload.get("inputTextTokenCount")
        with self._lock:
            self._counts["embedded"] += 1
            if isinstance(tokens, int) and tokens > 0:
                self._counts["input_tokens"] += tokens
                ratio = len(text) / tokens
                self._chars_per_token = 0.9 * self._chars_per_token + 0.1 * ratio
        if isinstance(tokens, int) and tokens > 0:
            self.limiter.correct_tokens(est, tokens)
        return vec


class _RetryableError(Exception):
    def __init__(self, code: str, status: int | None, message: str) -> None:
        super().__init__(code)
        self.code, self.status, self.message = code, status, message


def _first_error(futures: dict[Any, int]) -> BaseException:
    """The most informative failure of a batch (a real error over a sibling's abort)."""
    errors = [f.exception() for f in futures if f.done() and not f.cancelled()]
    real = [e for e in errors if e is not None and not isinstance(e, _AbortedError)]
    if real:
        return real[0]
    return RemoteServiceError("Bedrock batch aborted")
