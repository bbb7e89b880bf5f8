"""Row-level helpers of the vector store: filter type, metadata encoding, relevance scores."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from lance_spiral.errors import InvalidInputError

__all__ = ["Filter", "metadata_json", "similarity_to_relevance"]

Filter = Mapping[str, Any] | str | None


def similarity_to_relevance(metric: str) -> Callable[[float], float]:
    """Map the table's higher-is-better score to a relevance in [0, 1]."""
    if metric == "l2":
        # score = -||q - x||^2; unit vectors are at most 2 apart (squared 4).
        return lambda s: max(0.0, min(1.0, 1.0 - math.sqrt(max(-s, 0.0)) / 2.0))
    # cosine (and ip on unit vectors) lies in [-1, 1].
    return lambda s: max(0.0, min(1.0, (s + 1.0) / 2.0))


def metadata_json(metadata: Mapping[str, Any] | None) -> str:
    """A document's metadata as JSON text (InvalidInputError when not serialisable)."""
    try:
        return json.dumps(dict(metadata or {}), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"document metadata must be JSON-serialisable (str/int/float/bool/None, lists, "
            f"dicts; finite numbers): {exc}"
        ) from exc
