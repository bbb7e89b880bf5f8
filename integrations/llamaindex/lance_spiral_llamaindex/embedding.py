"""LlamaIndex ``BaseEmbedding`` classes for the lance-spiral approximator and Bedrock Titan."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from lance_spiral.embed import BedrockEmbedder
from lance_spiral.embed.approximator import shared_approximator
from lance_spiral.embed.protocol import Lazy, check_texts

__all__ = ["ApproximatorEmbedding", "BedrockEmbedding"]


def _lists(vectors: Any) -> list[list[float]]:
    return np.asarray(vectors, dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]


class _LanceSpiralEmbedding(BaseEmbedding):
    """Shared LlamaIndex plumbing: input checks, float lists, async via a worker thread."""

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
    """Embeddings from a lance-spiral approximator (distilled DeepSets model, ONNX on CPU).

    Args:
        model_dir: Folder of a saved ``Approximator``; the default model folder
            (``build/approximator``, built by ``make approximator``) when None.
        embed_batch_size: Texts per batch (LlamaIndex's own knob).
    """

    model_dir: str | None = Field(default=None, description="Approximator model folder.")

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralApproximatorEmbedding"

    def _embed(self, texts: list[str]) -> Any:
        return shared_approximator(self.model_dir).embed(texts)


class BedrockEmbedding(_LanceSpiralEmbedding):
    """Amazon Titan embeddings through lance-spiral's Bedrock client (rate limits, retries, cache).

    Args:
        model_id: Bedrock model id.
        endpoint_url: Custom endpoint (e.g. a local test server).
        region_name: AWS region.
        cache_dir: Enables the on-disk cache tier when set.
        client_kwargs: More keyword arguments for ``lance_spiral.embed.BedrockEmbedder``.
    """

    model_id: str = Field(default="amazon.titan-embed-text-v2:0")
    endpoint_url: str | None = None
    region_name: str | None = None
    cache_dir: str | None = None
    client_kwargs: dict[str, Any] = Field(default_factory=dict)

    _client: Lazy[BedrockEmbedder] = PrivateAttr()

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralBedrockEmbedding"

    def model_post_init(self, context: Any, /) -> None:
        """Prepare the client, built once on first use (shared by threads)."""
        super().model_post_init(context)
        self._client = Lazy(lambda: BedrockEmbedder(
            self.model_id,
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            cache_dir=self.cache_dir,
            **self.client_kwargs,
        ))

    def _embed(self, texts: list[str]) -> Any:
        return self._client.get().embed(texts)
