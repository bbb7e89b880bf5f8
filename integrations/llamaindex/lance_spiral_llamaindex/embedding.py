"""LlamaIndex ``BaseEmbedding`` classes for the lance-spiral approximator and Bedrock Titan.

Both refuse unknown constructor arguments (:class:`InvalidParameterError` naming them) instead
of dropping them; :class:`BedrockEmbedding` takes ``llama-index-embeddings-bedrock``'s arguments
(``model_name``, ``profile_name``, explicit keys, ``additional_kwargs``...) for Titan models.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr

from lance_spiral.embed import BedrockEmbedder
from lance_spiral.embed.approximator import shared_approximator
from lance_spiral.embed.bedrock.framework import aws_session, bedrock_options
from lance_spiral.embed.bedrock.session import make_client
from lance_spiral.embed.protocol import Lazy, check_texts
from lance_spiral.errors import InvalidParameterError

__all__ = ["ApproximatorEmbedding", "BedrockEmbedding"]

_APPROXIMATOR = "lance-spiral-approximator"


def _lists(vectors: Any) -> list[list[float]]:
    return np.asarray(vectors, dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]


class _LanceSpiralEmbedding(BaseEmbedding):
    """Shared LlamaIndex plumbing: strict arguments, input checks, async via a worker thread."""

    def __init__(self, **data: Any) -> None:
        known = set(type(self).model_fields)
        bad = sorted(set(data) - known)
        if bad:
            raise InvalidParameterError(
                f"{type(self).__name__} got unsupported argument(s) {bad}; it takes"
                f" {sorted(known)}")
        super().__init__(**data)

    def _embed(self, texts: list[str]) -> Any:
        """``float32[n, d]`` embeddings of non-empty ``texts`` (subclasses)."""
        raise NotImplementedError

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        texts = check_texts(texts, allow_empty=True)
        if not texts:
            return []
        return _lists(self._embed(texts))

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings(check_texts([text], name="text"))[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


class ApproximatorEmbedding(_LanceSpiralEmbedding):
    """Embeddings from a lance-spiral approximator (distilled model, numpy + numba on CPU).

    Args:
        model_dir: Folder of a saved ``Approximator``; the shipped general model when None.
        embed_batch_size: Texts per batch (LlamaIndex's own knob).

    Raises:
        InvalidParameterError: Unknown arguments, or a ``model_name`` (this class runs a model
            folder, ``model_dir``, not a named hub model).
    """

    model_dir: str | None = Field(default=None, description="Approximator model folder.")
    model_name: str = Field(default=_APPROXIMATOR, description="Always the approximator.")

    def __init__(self, **data: Any) -> None:
        if data.get("model_name", _APPROXIMATOR) != _APPROXIMATOR:
            raise InvalidParameterError(
                f"ApproximatorEmbedding runs a lance-spiral approximator folder: pass model_dir="
                f" instead of model_name={data['model_name']!r}")
        super().__init__(**data)

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralApproximatorEmbedding"

    def _embed(self, texts: list[str]) -> Any:
        return shared_approximator(self.model_dir).embed(texts)


class BedrockEmbedding(_LanceSpiralEmbedding):
    """Amazon Titan embeddings through lance-spiral's Bedrock client (rate limits, retries, cache).

    Takes ``llama-index-embeddings-bedrock``'s arguments for Titan models:

    Args:
        model_name: Titan model id (``amazon.titan-embed-text-v2:0`` default); ``model_id`` is
            accepted as an alias.
        profile_name: Named AWS profile.
        aws_access_key_id: Explicit key id (never shown in reprs, errors or ``to_dict``).
        aws_secret_access_key: Explicit secret key.
        aws_session_token: Explicit session token.
        region_name: AWS region.
        botocore_config: A botocore ``Config`` merged over the client's defaults.
        max_retries: Retries of retryable errors (our backoff; botocore's retries stay off).
        timeout: Connect and read timeout in seconds.
        additional_kwargs: Request options ``dimensions`` and ``normalize`` (Titan v2).
        endpoint_url: Custom endpoint (VPC endpoint, a local test server).
        client: A ready ``bedrock-runtime`` client.
        cache_dir: Enables the on-disk cache tier when set.
        client_kwargs: More ``lance_spiral.embed.BedrockEmbedder`` options.

    Raises:
        InvalidParameterError: Unknown arguments or additional_kwargs, a missing profile,
            credentials mixed with ``client``, both ``model_name`` and ``model_id``.
    """

    model_name: str = Field(default="amazon.titan-embed-text-v2:0")
    profile_name: str | None = None
    aws_access_key_id: SecretStr | None = Field(default=None, exclude=True)
    aws_secret_access_key: SecretStr | None = Field(default=None, exclude=True)
    aws_session_token: SecretStr | None = Field(default=None, exclude=True)
    region_name: str | None = None
    botocore_config: Any = Field(default=None, exclude=True)
    max_retries: int = Field(default=6, ge=0)
    timeout: float = Field(default=60.0, gt=0)
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    endpoint_url: str | None = None
    client: Any = Field(default=None, exclude=True)
    cache_dir: str | None = None
    client_kwargs: dict[str, Any] = Field(default_factory=dict)

    _client: Lazy[BedrockEmbedder] = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        if "model_id" in data:
            model_id = data.pop("model_id")
            if data.get("model_name", model_id) != model_id:
                raise InvalidParameterError("pass model_name or model_id, not both")
            data["model_name"] = model_id
        super().__init__(**data)
        self._prepare()

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralBedrockEmbedding"

    @property
    def model_id(self) -> str:
        """The Bedrock model id (``model_name``)."""
        return self.model_name

    def _prepare(self) -> None:
        """Check the options now; build the client once, on first use (shared by threads)."""
        extra = {"max_retries": self.max_retries, **self.client_kwargs}
        options = bedrock_options(self.model_name, self.additional_kwargs, normalize=False,
                                  provider=None, client_kwargs=extra)
        session = aws_session(self.profile_name, self.aws_access_key_id,
                              self.aws_secret_access_key, self.aws_session_token,
                              has_client=self.client is not None)

        def build() -> BedrockEmbedder:
            client = self.client
            if client is None:
                client = make_client(self.endpoint_url, self.region_name,
                                     int(options.get("max_concurrency", 8)), self.timeout,
                                     self.timeout, session=session,
                                     config=self.botocore_config)
            return BedrockEmbedder(self.model_name, cache_dir=self.cache_dir, client=client,
                                   **options)

        self._client = Lazy(build)

    def _embed(self, texts: list[str]) -> Any:
        return self._client.get().embed(texts)
