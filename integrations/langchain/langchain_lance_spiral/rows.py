"""Row-level helpers of the vector store: metadata encoding, documents, relevance scores.

Relevance follows LangChain's conventions for the store's metric, the same values Chroma gives
for the same space (and FAISS for the same metric), clipped to [0, 1] as LangChain requires:

* ``cosine`` (default): relevance = 1 - cosine distance = the cosine similarity;
* ``ip``: relevance = the inner product (``_max_inner_product_relevance_score_fn`` of Chroma's
  ``1 - ip`` distance);
* ``l2``: relevance = 1 - squared L2 distance / sqrt(2) (``_euclidean_relevance_score_fn`` of
  the squared distance Chroma and FAISS report).

So ``score_threshold=0.5`` on a cosine store keeps exactly the documents whose cosine
similarity to the query is at least 0.5, as on a Chroma collection with ``hnsw:space=cosine``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.documents import Document

from lance_spiral.errors import InvalidInputError, InvalidParameterError

__all__ = ["metadata_json", "relevance_fn", "to_document"]


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def relevance_fn(metric: str) -> Callable[[float], float]:
    """Map the table's higher-is-better score (see the module docstring) to a relevance in [0, 1].

    The table's scores are cosine similarity, inner product, or minus the squared L2 distance.
    """
    if metric == "l2":
        return lambda s: _clip(1.0 - max(-s, 0.0) / math.sqrt(2.0))
    if metric in ("cosine", "ip"):
        return _clip
    raise InvalidParameterError(f"no relevance function for metric {metric!r}")


def metadata_json(metadata: Mapping[str, Any] | None) -> str:
    """A document's metadata as JSON text (InvalidInputError when not serialisable)."""
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidInputError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:
        return json.dumps(dict(metadata or {}), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"document metadata must be JSON-serialisable (str/int/float/bool/None, lists, "
            f"dicts; finite numbers): {exc}"
        ) from exc


def to_document(row: Mapping[str, Any]) -> Document:
    """A LangChain document from a stored row (id, text, metadata JSON)."""
    return Document(id=row["id"], page_content=row["text"], metadata=json.loads(row["metadata"]))
