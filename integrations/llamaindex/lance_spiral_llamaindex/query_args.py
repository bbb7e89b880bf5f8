"""Keyword arguments of the store's ``query``: each honoured or refused, none dropped.

LlamaIndex passes a retriever's ``vector_store_kwargs`` to ``query(query, **kwargs)``:

``where``
    a metadata filter dict in Chroma's language (as Chroma's LlamaIndex store takes), AND-ed
    with ``query.filters``;
``where_document``
    Chroma's text filter (``{"$contains": "word"}``, ``$not_contains``, ``$regex``...);
``sql``
    a raw Lance SQL predicate, **trusted input only**;
``nprobes``, ``rerank`` / ``refine_factor``
    IVF partitions scanned and re-rank depth (override the store's fields for this query).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lance_spiral._validation import check_int
from lance_spiral.documents import filter_to_sql, where_document_sql
from lance_spiral.errors import InvalidParameterError
from lance_spiral.table.sql import check_sql

__all__ = ["QUERY_KWARGS", "QueryArgs", "query_args"]

QUERY_KWARGS = ("where", "where_document", "sql", "nprobes", "rerank", "refine_factor")


@dataclass(frozen=True)
class QueryArgs:
    """SQL parts to AND with the query's own filters, and the index knobs."""

    where: list[str]
    nprobes: int | None
    rerank: int | None


def query_args(kwargs: Mapping[str, Any], *, k: int, nprobes: int | None,
               rerank: int | None) -> QueryArgs:
    """Check ``query``'s keyword arguments (the store's defaults for nprobes / rerank).

    Raises:
        InvalidParameterError: An unknown keyword, or both rerank and refine_factor.
        InvalidInputError: A malformed filter.
    """
    bad = sorted(set(kwargs) - set(QUERY_KWARGS))
    if bad:
        raise InvalidParameterError(
            f"query() got unsupported keyword argument(s) {bad}; it takes {list(QUERY_KWARGS)}")
    if kwargs.get("rerank") is not None and kwargs.get("refine_factor") is not None:
        raise InvalidParameterError("pass rerank (a depth) or refine_factor, not both")
    parts = [filter_to_sql(kwargs.get("where")), where_document_sql(kwargs.get("where_document")),
             None if kwargs.get("sql") is None else check_sql(kwargs["sql"])]
    if kwargs.get("nprobes") is not None:
        nprobes = check_int(kwargs["nprobes"], "nprobes", lo=1)
    if kwargs.get("rerank") is not None:
        rerank = check_int(kwargs["rerank"], "rerank", lo=1)
    elif kwargs.get("refine_factor") is not None:
        rerank = check_int(kwargs["refine_factor"], "refine_factor", lo=1) * k
    return QueryArgs(where=[p for p in parts if p is not None], nprobes=nprobes, rerank=rerank)
