"""Metadata filters (dicts, as in Chroma / PGVector) over the JSON ``metadata`` column, to SQL.

Used by the LangChain store's ``filter=`` and the LlamaIndex store's ``where=``.

Grammar::

    {"key": value}                               equality
    {"key": {"$op": value, ...}}                 operators, several are AND-ed
    {"$and": [f, ...]}, {"$or": [f, ...]}, {"$not": f}
    {"k1": ..., "k2": ...}                       several keys are AND-ed

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $between $exists $like $ilike $contains``.
A filter is always a dict, safe to take from a user or an LLM (keys and values are escaped and
type-checked). A raw Lance SQL predicate is a separate, explicit opt-in for trusted input only:
the stores' ``sql=`` keyword (metadata lives in the JSON column ``metadata``, the text in
``text``, e.g. ``sql="json_get_string(metadata, 'source') = 'a.txt'"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql import predicates

__all__ = ["OPERATORS", "filter_to_sql"]

_CMP = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _between(col: str, key: str, value: Any) -> str:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise InvalidInputError(f"$between for {key!r} needs [low, high], got {value!r}")
    return predicates.and_(
        [predicates.compare(col, key, ">=", value[0]), predicates.compare(col, key, "<=", value[1])]
    )


def _exists(col: str, key: str, value: Any) -> str:
    if not isinstance(value, bool):
        raise InvalidInputError(f"$exists for {key!r} takes true or false, got {value!r}")
    pred = predicates.exists(col, key)
    return pred if value else predicates.not_(pred)


def _comparison(symbol: str) -> Callable[[str, str, Any], str]:
    return lambda c, k, v: predicates.compare(c, k, symbol, v)


_KEY_OPS: dict[str, Callable[[str, str, Any], str]] = {
    **{op: _comparison(sym) for op, sym in _CMP.items()},
    "$in": predicates.one_of,
    "$nin": lambda c, k, v: predicates.not_(predicates.one_of(c, k, v)),
    "$between": _between,
    "$exists": _exists,
    "$like": predicates.like,
    "$ilike": lambda c, k, v: predicates.like(c, k, v, case_insensitive=True),
    "$contains": predicates.array_contains,
}

OPERATORS: tuple[str, ...] = ("$and", "$or", "$not", *_KEY_OPS)


def _key_clause(col: str, key: str, cond: Any) -> str:
    if isinstance(cond, Mapping):
        if not cond:
            raise InvalidInputError(f"empty operator dict for key {key!r}")
        parts = []
        for op, value in cond.items():
            fn = _KEY_OPS.get(op)
            if fn is None:
                raise InvalidInputError(
                    f"unknown filter operator {op!r} for key {key!r}; expected one of "
                    f"{sorted(_KEY_OPS)}"
                )
            parts.append(fn(col, key, value))
        return parts[0] if len(parts) == 1 else predicates.and_(parts)
    return predicates.compare(col, key, "=", cond)


def _dict_to_sql(col: str, flt: Mapping[str, Any]) -> str:
    if not isinstance(flt, Mapping):
        raise InvalidInputError(f"a filter must be a dict, got {type(flt).__name__}")
    parts: list[str] = []
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if isinstance(cond, str | Mapping) or not isinstance(cond, Sequence):
                raise InvalidInputError(f"{key} takes a list of filters, got {cond!r}")
            subs = [_dict_to_sql(col, c) for c in cond]
            parts.append(predicates.and_(subs) if key == "$and" else predicates.or_(subs))
        elif key == "$not":
            parts.append(predicates.not_(_dict_to_sql(col, cond)))
        elif key.startswith("$"):
            raise InvalidInputError(f"unknown logical operator {key!r}; expected $and, $or, $not")
        else:
            parts.append(_key_clause(col, key, cond))
    if not parts:
        return "TRUE"
    return parts[0] if len(parts) == 1 else predicates.and_(parts)


def filter_to_sql(flt: Mapping[str, Any] | None, *, column: str = "metadata") -> str | None:
    """Translate a LangChain filter dict into a Lance SQL predicate.

    Args:
        flt: A filter dict (grammar in the module docstring), or None.
        column: The JSON metadata column.

    Returns:
        The SQL predicate, or None when there is no filter.

    Raises:
        InvalidInputError: For an unknown operator, a malformed filter, or a string (raw SQL
            goes in the stores' ``sql=`` keyword, for trusted input only).
    """
    if flt is None:
        return None
    if isinstance(flt, str):
        raise InvalidInputError(
            "a filter must be a dict; a raw Lance SQL predicate goes in sql= (trusted input"
            " only, never a user's or an LLM's text)")
    if isinstance(flt, Mapping) and not flt:
        return None
    return _dict_to_sql(column, flt)
