"""LlamaIndex ``MetadataFilters`` translated to Lance SQL over the JSON metadata column.

Every ``FilterOperator`` is supported, with the semantics of LlamaIndex's own in-memory store
(``build_metadata_filter_fn``): ``!=`` and ``nin`` match documents without the key; ``contains``
tests list membership (or a substring of a string value); ``any`` / ``all`` test lists;
``text_match`` is a substring test (``text_match_insensitive`` ignores case); ``is_empty`` matches
a missing key, null, ``""`` or ``[]``. ``MetadataFilters`` nest to any depth with AND / OR / NOT
(NOT = none of its filters match). ``!=`` is a real inequality, never ``NOT LIKE``.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql import predicates

__all__ = ["filters_to_sql"]

_CMP = {
    FilterOperator.EQ: "=",
    FilterOperator.NE: "<>",
    FilterOperator.GT: ">",
    FilterOperator.GTE: ">=",
    FilterOperator.LT: "<",
    FilterOperator.LTE: "<=",
}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _values(flt: MetadataFilter) -> list[Any]:
    if not isinstance(flt.value, list):
        raise InvalidInputError(
            f"operator {flt.operator.value!r} on key {flt.key!r} needs a list value, "
            f"got {flt.value!r}"
        )
    return list(flt.value)


def _substring(col: str, key: str, value: Any, *, case_insensitive: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"text match on key {key!r} needs a string, got {value!r}")
    return predicates.like(col, key, f"%{_like_escape(value)}%", case_insensitive=case_insensitive)


def _one(col: str, flt: MetadataFilter) -> str:
    op, key, value = flt.operator, flt.key, flt.value
    if op in _CMP:
        return predicates.compare(col, key, _CMP[op], value)
    if op == FilterOperator.IN:
        return predicates.one_of(col, key, _values(flt))
    if op == FilterOperator.NIN:
        return predicates.not_(predicates.one_of(col, key, _values(flt)))
    if op == FilterOperator.CONTAINS:
        parts = [predicates.array_contains(col, key, value)]
        if isinstance(value, str):
            parts.append(_substring(col, key, value))
        return predicates.or_(parts)
    if op == FilterOperator.ANY:
        return predicates.or_([predicates.array_contains(col, key, v) for v in _values(flt)])
    if op == FilterOperator.ALL:
        return predicates.and_([predicates.array_contains(col, key, v) for v in _values(flt)])
    if op == FilterOperator.TEXT_MATCH:
        return _substring(col, key, value)
    if op == FilterOperator.TEXT_MATCH_INSENSITIVE:
        return _substring(col, key, value, case_insensitive=True)
    if op == FilterOperator.IS_EMPTY:
        return predicates.is_empty(col, key)
    raise InvalidInputError(f"unsupported filter operator {op!r}")


def filters_to_sql(filters: MetadataFilters | None, *, column: str = "metadata") -> str | None:
    """Translate (possibly nested) ``MetadataFilters`` into a Lance SQL predicate.

    Args:
        filters: The filters, or None.
        column: The JSON metadata column.

    Returns:
        The SQL predicate, or None when there is nothing to filter on.

    Raises:
        InvalidInputError: For a malformed filter (e.g. ``in`` without a list).
    """
    if filters is None or not filters.filters:
        return None
    if not isinstance(filters, MetadataFilters):
        raise InvalidInputError(f"filters must be MetadataFilters, got {type(filters).__name__}")
    parts = [
        filters_to_sql(f, column=column) or "TRUE"
        if isinstance(f, MetadataFilters)
        else _one(column, f)
        for f in filters.filters
    ]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return predicates.and_(parts)
    if condition == FilterCondition.OR:
        return predicates.or_(parts)
    if condition == FilterCondition.NOT:
        return predicates.not_(predicates.or_(parts))
    raise InvalidInputError(f"unsupported filter condition {condition!r}")
