"""Full-text search over a document table's ``text`` column (Lance INVERTED index) and fusion.

Lance scores a query with BM25 over its INVERTED index; rows added after the index was built are
still searched (Lance scans the unindexed fragments), and deleted rows never come back. Hybrid
search runs the vector search and the full-text search separately and fuses the two ranked lists:
reciprocal-rank fusion by default (``1 / (60 + rank)`` summed over the lists, as LanceDB's
default ``RRFReranker``), or, given ``alpha``, a linear mix of the min-max normalised scores
(``alpha`` = 1: vector only, 0: text only; LlamaIndex's convention for ``alpha``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import lance
from lance.query import MatchQuery

from lance_spiral.errors import InvalidInputError, InvalidParameterError
from lance_spiral.table.snapshot import list_indices
from lance_spiral.table.sql import lance_error

__all__ = ["RRF_K", "fuse", "has_text_index", "text_search"]

RRF_K = 60


def has_text_index(ds: lance.LanceDataset, column: str) -> bool:
    """Whether ``column`` has an INVERTED (full-text) index in this dataset version."""
    return any(column in idx.get("fields", []) and str(idx.get("type", "")).lower() == "inverted"
               for idx in list_indices(ds))


def check_query_text(query: Any) -> str:
    """A full-text query must be a non-blank string."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"a full-text query must be a non-empty string, got {query!r}")
    return query


def text_search(ds: lance.LanceDataset, query: str, k: int, *, columns: Sequence[str],
                column: str = "text", where: str | None = None) -> list[dict[str, Any]]:
    """The ``k`` best BM25 matches of ``query`` in ``column`` (best first, ``_score`` = BM25).

    Args:
        ds: The dataset version to search (one snapshot).
        query: Words to match (any of them; Lance's default tokenizer, lower-cased).
        k: Number of rows.
        columns: Columns to return (``_score`` is added).
        column: The indexed text column.
        where: A trusted SQL prefilter (compiled by the caller from a dict filter).
    """
    check_query_text(query)
    try:
        tbl = ds.to_table(columns=[*columns, "_score"], full_text_query=MatchQuery(query, column),
                          filter=where, prefilter=True, limit=k)
    except (ValueError, OSError) as exc:
        raise lance_error(exc, where) from exc
    rows: list[dict[str, Any]] = tbl.to_pylist()
    return rows


def _minmax(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi - lo <= 0.0 or not math.isfinite(hi - lo):
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def fuse(vector_rows: Sequence[Mapping[str, Any]], text_rows: Sequence[Mapping[str, Any]], k: int,
         *, alpha: float | None = None, id_key: str = "id") -> list[dict[str, Any]]:
    """Fuse two best-first result lists (each row with ``_score``) into the top ``k``.

    Returns rows with ``_score`` (the fused score, higher is better), ``_vector_score`` and
    ``_text_score`` (None where a row came from one list only).

    Raises:
        InvalidParameterError: ``alpha`` outside [0, 1].
    """
    if alpha is not None and (isinstance(alpha, bool) or not 0.0 <= float(alpha) <= 1.0):
        raise InvalidParameterError(f"alpha must be in [0, 1], got {alpha!r}")
    merged: dict[Any, dict[str, Any]] = {}
    fused: dict[Any, float] = {}
    lists = ((vector_rows, "_vector_score", None if alpha is None else float(alpha)),
             (text_rows, "_text_score", None if alpha is None else 1.0 - float(alpha)))
    for rows, label, weight in lists:
        norm = _minmax([float(r["_score"]) for r in rows])
        for rank, (row, score) in enumerate(zip(rows, norm, strict=True)):
            key = row[id_key]
            out = merged.setdefault(key, {**{c: v for c, v in row.items() if c != "_score"},
                                          "_vector_score": None, "_text_score": None})
            out[label] = float(row["_score"])
            gain = 1.0 / (RRF_K + rank + 1) if weight is None else weight * score
            fused[key] = fused.get(key, 0.0) + gain
    order = sorted(merged, key=lambda key: -fused[key])[:k]
    return [{**merged[key], "_score": fused[key]} for key in order]
