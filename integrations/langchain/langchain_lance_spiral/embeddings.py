"""LangChain ``Embeddings`` for the lance-spiral approximator and for Amazon Titan via Bedrock.

Both classes refuse unknown constructor arguments (:class:`InvalidParameterError` naming them):
an option that is silently dropped (``ApproximatorEmbeddings(model_name=...)``) is worse than an
error. :class:`BedrockEmbeddings` takes langchain-aws' constructor arguments for Titan models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from lance_spiral.embed import BedrockEmbedder
from lance_spiral.embed.approximator import Approximator, shared_approximator
from lance_spiral.embed.bedrock.framework import aws_session, bedrock_options
from lance_spiral.embed.bedrock.session import make_client
from lance_spiral.embed.protocol import Lazy, check_texts
from lance_spiral.errors import InvalidParameterError

__all__ = ["ApproximatorEmbeddings", "BedrockEmbeddings"]

_HINTS = {
    "model_name": "it runs a lance-spiral approximator folder: pass model_dir=",
    "model": "pass model_dir= (a lance-spiral approximator folder)",
}


def _to_lists(vectors: Any) -> list[list[float]]:
    return np.asarray(vectors, dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]


def _check_fields(cls: type[BaseModel], data: Mapping[str, Any]) -> None:
    known = set(cls.model_fields)
    bad = sorted(set(data) - known)
    if bad:
        hints = "; ".join(f"{k}: {_HINTS[k]}" for k in bad if k in _HINTS)
        raise InvalidParameterError(
            f"{cls.__name__} got unsupported argument(s) {bad}" + (f" ({hints})" if hints else "")
            + f"; it takes {sorted(known)}")


class _QueryAndAsync(BaseModel):
    """``embed_query`` and the async pair on a subclass's ``embed_documents``; strict kwargs.

    Async calls run in a worker thread (onnxruntime frees the GIL; boto3 is synchronous).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=(),
                              extra="forbid")

    def __init__(self, **data: Any) -> None:
        _check_fields(type(self), data)
        super().__init__(**data)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text."""
        return self.embed_documents(check_texts([text], name="text"))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return await asyncio.to_thread(self.embed_query, text)


class ApproximatorEmbeddings(_QueryAndAsync, Embeddings):
    """Embeddings from a lance-spiral approximator (distilled model, numpy + numba on CPU).

    The vectors live in the teacher's space (all-MiniLM-L6-v2 by default), so approximator
    queries can search teacher-embedded documents. Vectors are unit-norm.

    Args:
        model_dir: Folder written by ``lance-spiral distill`` (``Approximator.save``); the
            shipped general model when None.
        batch_size: Texts per inference batch.

    Raises:
        InvalidParameterError: Any other argument (``model_name`` included).
    """

    model_dir: str | None = None
    batch_size: int = Field(default=256, ge=1)

    def _approximator(self) -> Approximator:
        return shared_approximator(self.model_dir)

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self._approximator().dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts (input order kept)."""
        texts = check_texts(texts, allow_empty=True)
        if not texts:
            return []
        model = self._approximator()
        out = [model.embed(texts[i:i + self.batch_size])
               for i in range(0, len(texts), self.batch_size)]
        return _to_lists(np.concatenate(out, axis=0))


class BedrockEmbeddings(_QueryAndAsync, Embeddings):
    """Amazon Titan embeddings through lance-spiral's Bedrock client (rate limits, retries, cache).

    Takes langchain-aws' ``BedrockEmbeddings`` arguments for Titan models, with their meaning:

    Args:
        model_id: Titan model id (``amazon.titan-embed-text-v2:0``, ``-v1``...).
        region_name: AWS region (boto3's configuration, else ``us-east-1``, when None).
        credentials_profile_name: Named profile of ``~/.aws/credentials`` / ``~/.aws/config``.
        aws_access_key_id: Explicit key id (with ``aws_secret_access_key``, optionally
            ``aws_session_token``); never shown in reprs or errors.
        aws_secret_access_key: Explicit secret key.
        aws_session_token: Explicit session token.
        model_kwargs: Request options: ``dimensions`` (v2: 256, 512, 1024) and ``normalize``
            (v2, server side; default true as on Bedrock). Other keys raise.
        endpoint_url: Custom endpoint (VPC endpoint, a local test server).
        normalize: Unit-normalise the vectors (client side for v1, as langchain-aws).
        config: A botocore ``Config`` merged over the client's defaults.
        client: A ready ``bedrock-runtime`` client (then no credentials arguments).
        provider: ``"amazon"`` or None (only Titan models are supported).
        cache_dir: Enables the on-disk cache tier when set (lance-spiral's own).
        client_kwargs: More ``lance_spiral.embed.BedrockEmbedder`` options (``cache``,
            ``requests_per_minute``, ``max_concurrency``...).

    Raises:
        InvalidParameterError: Unknown arguments or model_kwargs, a profile that does not
            exist, credentials mixed with ``client``, a non-Titan provider.
    """

    model_id: str = "amazon.titan-embed-text-v2:0"
    region_name: str | None = None
    credentials_profile_name: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    model_kwargs: dict[str, Any] | None = None
    endpoint_url: str | None = None
    normalize: bool = False
    config: Any = None
    client: Any = Field(default=None, exclude=True)
    provider: str | None = None
    cache_dir: str | None = None
    client_kwargs: dict[str, Any] = Field(default_factory=dict)

    _client: Lazy[BedrockEmbedder] = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._prepare()

    def _prepare(self) -> None:
        """Check the options now; build the client once, on first use (shared by threads)."""
        options = bedrock_options(
            self.model_id, self.model_kwargs, normalize=self.normalize, provider=self.provider,
            client_kwargs=self.client_kwargs)
        session = aws_session(self.credentials_profile_name, self.aws_access_key_id,
                              self.aws_secret_access_key, self.aws_session_token,
                              has_client=self.client is not None)

        def build() -> BedrockEmbedder:
            client = self.client
            if client is None and (session is not None or self.config is not None):
                client = make_client(
                    self.endpoint_url, self.region_name,
                    int(self.client_kwargs.get("max_concurrency", 8)),
                    float(self.client_kwargs.get("connect_timeout", 10.0)),
                    float(self.client_kwargs.get("read_timeout", 60.0)),
                    session=session, config=self.config)
            return BedrockEmbedder(self.model_id, endpoint_url=self.endpoint_url,
                                   region_name=self.region_name, cache_dir=self.cache_dir,
                                   client=client, **options)

        self._client = Lazy(build)

    def _embedder(self) -> BedrockEmbedder:
        return self._client.get()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts (input order kept)."""
        texts = check_texts(texts, allow_empty=True)
        if not texts:
            return []
        return _to_lists(self._embedder().embed(texts))

