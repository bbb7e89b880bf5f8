"""LlamaIndex ``BaseEmbedding`` classes for the lance-spiral approximator and Bedrock Titan."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from lance_spiral.errors import InvalidInputError

__all__ = ["ApproximatorEmbedding", "BedrockEmbedding"]


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
    return text


def _lists(vectors: Any) -> list[list[float]]:
    return np.asarray(vectors, dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]


class _LanceSpiralEmbedding(BaseEmbedding):
    """Shared LlamaIndex plumbing: input checks, float lists, async via a worker thread."""

    def _embed(self, texts: list[str]) -> Any:
        """``float32[n, d]`` embeddings of non-empty ``texts`` (subclasses)."""
        raise NotImplementedError

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        texts = [_check_text(t) for t in texts]
        if not texts:
            return []
        return _lists(self._embed(texts))

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([_check_text(text)])[0]

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

    _model: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralApproximatorEmbedding"

    def _approximator(self) -> Any:
        if self._model is None:
            from lance_spiral.embed.approximator import Approximator, default_model_dir

            path = Path(self.model_dir) if self.model_dir is not None else default_model_dir()
            self._model = Approximator.load(path)
        return self._model

    def _embed(self, texts: list[str]) -> Any:
        return self._approximator().embed(texts)


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

    _client: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "LanceSpiralBedrockEmbedding"

    def _embedder(self) -> Any:
        if self._client is None:
            from lance_spiral.embed import BedrockEmbedder

            self._client = BedrockEmbedder(
                self.model_id,
                endpoint_url=self.endpoint_url,
                region_name=self.region_name,
                cache_dir=self.cache_dir,
                **self.client_kwargs,
            )
        return self._client

    def _embed(self, texts: list[str]) -> Any:
        return self._embedder().embed(texts)
