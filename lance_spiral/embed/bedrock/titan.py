"""Amazon Titan text-embedding protocol: limits, request bodies, responses, model versions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral.errors import InvalidInputError, InvalidParameterError, RemoteServiceError

__all__ = [
    "MAX_INPUT_CHARS",
    "MAX_INPUT_TOKENS",
    "V1_DIM",
    "V2_DIMENSIONS",
    "check_length",
    "output_dim",
    "request_body",
    "resolve_version",
    "response_vector",
]

MAX_INPUT_CHARS = 50_000
MAX_INPUT_TOKENS = 8_192
V2_DIMENSIONS = (256, 512, 1024)
V1_DIM = 1536


def check_length(i: int, text: str) -> None:
    """Refuse what Titan would reject: empty text, or more characters or tokens than it takes.

    Raises:
        InvalidInputError: Naming the item, its size and the limit.
    """
    if not text.strip():
        raise InvalidInputError(f"texts[{i}] is empty or whitespace: Titan rejects empty input")
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidInputError(
            f"texts[{i}] has {len(text):,} characters; Titan accepts at most "
            f"{MAX_INPUT_CHARS:,}: split or truncate it")
    est = math.ceil(len(text) / 4)
    if est > MAX_INPUT_TOKENS:
        raise InvalidInputError(
            f"texts[{i}] has about {est:,} tokens ({len(text):,} characters / 4); Titan "
            f"accepts at most {MAX_INPUT_TOKENS:,} tokens: split or truncate it")


def request_body(text: str, *, version: int, dim: int, normalize: bool, embedding_type: str
                 ) -> dict[str, Any]:
    """The InvokeModel JSON body for one text."""
    if version == 1:
        return {"inputText": text}
    return {"inputText": text, "dimensions": dim, "normalize": normalize,
            "embeddingTypes": [embedding_type]}


def response_vector(payload: dict[str, Any], *, model_id: str, version: int,
                    embedding_type: str, dim: int, normalize: bool) -> npt.NDArray[np.float32]:
    """The embedding in an InvokeModel response (v1 normalised here when asked).

    Raises:
        RemoteServiceError: Missing, misshaped or non-finite embedding.
    """
    by_type = payload.get("embeddingsByType")
    values = by_type.get(embedding_type) if isinstance(by_type, dict) else None
    if values is None:
        values = payload.get("embedding") if embedding_type == "float" else None
    try:
        vec = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError):
        vec = np.empty(0, dtype=np.float32)
    if vec.shape != (dim,) or not np.isfinite(vec).all():
        raise RemoteServiceError(
            f"Bedrock model {model_id!r} returned an unusable {embedding_type} "
            f"embedding (shape {vec.shape}, expected ({dim},))")
    if version == 1 and normalize:
        n = float(np.linalg.norm(vec))
        if n > 0:
            vec = vec / np.float32(n)
    return vec


def resolve_version(model_id: str, titan_version: int | None) -> int:
    """1 or 2: given, or read from the model id."""
    if titan_version is not None:
        if titan_version not in (1, 2):
            raise InvalidParameterError(f"titan_version must be 1 or 2, got {titan_version!r}")
        return titan_version
    if "titan-embed-text-v2" in model_id:
        return 2
    if "titan-embed-text-v1" in model_id or "titan-embed-g1-text" in model_id:
        return 1
    raise InvalidParameterError(
        f"cannot tell the Titan version of {model_id!r}: pass titan_version=1 or 2")


def output_dim(model_id: str, version: int, dimensions: int | None, embedding_type: str) -> int:
    """The embedding width a Titan model returns with these options.

    Raises:
        InvalidParameterError: Options the model does not support (v1 with 512 dimensions...).
    """
    if embedding_type not in ("float", "binary"):
        raise InvalidParameterError(
            f"embedding_type must be 'float' or 'binary', got {embedding_type!r}")
    if version == 1:
        if dimensions not in (None, V1_DIM):
            raise InvalidParameterError(f"{model_id} returns {V1_DIM}-d vectors; "
                                        f"dimensions={dimensions!r} is not supported")
        if embedding_type != "float":
            raise InvalidParameterError(f"{model_id} only returns float embeddings")
        return V1_DIM
    d = 1024 if dimensions is None else dimensions
    if d not in V2_DIMENSIONS:
        raise InvalidParameterError(
            f"dimensions must be one of {V2_DIMENSIONS} for Titan v2, got {dimensions!r}")
    return int(d)
