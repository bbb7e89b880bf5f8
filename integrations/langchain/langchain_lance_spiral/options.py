"""Keyword arguments of the store's search, get and delete methods: each honoured or refused.

LangChain passes ``search_kwargs`` of a retriever straight to the search methods, so a misspelt
or unsupported option (``where_documents=``, ``ef=``) would otherwise vanish silently. Every
method here accepts exactly these and raises :class:`InvalidParameterError` for anything else:

``filter``
    metadata filter dict (see :mod:`langchain_lance_spiral.filters`);
``where_document``
    Chroma's text filter (``{"$contains": "word"}``, ``$not_contains``, ``$regex``,
    ``$not_regex``, ``$and``, ``$or``), exact substring / regex tests;
``sql``
    a raw Lance SQL predicate, **trusted input only** (never a user's or an LLM's text);
``nprobes``
    IVF partitions scanned (tables made with ``table_kwargs={"nlist": n}``);
``rerank`` / ``refine_factor``
    re-rank depth ``k'`` (candidates re-scored with the table codec), or ``refine_factor * k``
    in LanceDB's spelling; both default to the table's automatic choice.

Several filters are AND-ed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lance_spiral._validation import check_int
from lance_spiral.documents import filter_to_sql, where_document_sql
from lance_spiral.errors import InvalidParameterError
from lance_spiral.table.sql import check_sql
from lance_spiral.table.sql.predicates import and_

__all__ = ["FILTER_KEYS", "SEARCH_KEYS", "SearchOptions", "check_k", "reject_unknown",
           "search_options", "where_sql"]

FILTER_KEYS = ("filter", "where_document", "sql")
SEARCH_KEYS = (*FILTER_KEYS, "nprobes", "rerank", "refine_factor")


def reject_unknown(kwargs: Mapping[str, Any], allowed: Iterable[str], method: str) -> None:
    """Raise for keyword arguments ``method`` does not take (nothing is silently ignored)."""
    allowed = tuple(allowed)
    bad = sorted(set(kwargs) - set(allowed))
    if bad:
        raise InvalidParameterError(
            f"{method}() got unsupported keyword argument(s) {bad}; it takes {sorted(allowed)}")


def check_k(k: Any, name: str = "k") -> int:
    """``k`` as a positive int."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {k!r}")
    return k


def where_sql(filter: Mapping[str, Any] | None = None, where_document: Mapping[str, Any] | None
              = None, sql: str | None = None) -> str | None:
    """The SQL prefilter for a metadata filter, a text filter and a raw trusted predicate."""
    parts = [p for p in (filter_to_sql(filter), where_document_sql(where_document),
                         None if sql is None else check_sql(sql)) if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else and_(parts)


@dataclass(frozen=True)
class SearchOptions:
    """A search's prefilter and its index knobs."""

    where: str | None = None
    nprobes: int | None = None
    rerank: int | None = None


def search_options(kwargs: Mapping[str, Any], *, k: int, method: str,
                   extra: Iterable[str] = ()) -> SearchOptions:
    """Check a search method's keyword arguments and turn them into :class:`SearchOptions`.

    Args:
        kwargs: The method's keyword arguments (``filter`` included).
        k: The number of results (for ``refine_factor``).
        method: The method's name, for messages.
        extra: More names the method consumes itself.
    """
    reject_unknown(kwargs, (*SEARCH_KEYS, *extra), method)
    if kwargs.get("rerank") is not None and kwargs.get("refine_factor") is not None:
        raise InvalidParameterError("pass rerank (a depth) or refine_factor (a multiple of k),"
                                    " not both")
    nprobes = kwargs.get("nprobes")
    rerank = kwargs.get("rerank")
    factor = kwargs.get("refine_factor")
    return SearchOptions(
        where=where_sql(kwargs.get("filter"), kwargs.get("where_document"), kwargs.get("sql")),
        nprobes=None if nprobes is None else check_int(nprobes, "nprobes", lo=1),
        rerank=(check_int(rerank, "rerank", lo=1) if rerank is not None else
                None if factor is None else check_int(factor, "refine_factor", lo=1) * k),
    )
