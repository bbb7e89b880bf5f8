"""SQL predicates over a JSON metadata column, for Lance's DataFusion filter engine.

Why a JSON column: documents carry different metadata keys, and values must come back with their
exact Python type (``1`` stays an ``int``, ``1.0`` a ``float``, lists and nested dicts survive).
A Lance column of Arrow type ``arrow.json`` (``pa.json_(pa.utf8())``) is stored as JSONB and is
filterable with Lance's JSON functions (``json_extract``, ``json_get_string``, ``json_exists``,
``json_array_contains`` ...). Those functions raise on a type mismatch (``json_get_float`` of a
string fails the whole query), so every predicate here is type-guarded instead:

* numbers: ``TRY_CAST(json_extract(m, path) AS DOUBLE)`` -- NULL for strings, booleans, lists;
* strings: ``json_get_string`` under a CASE that first checks the JSON text is a string;
* booleans and null: compared as JSON text (``'true'``, ``'null'``).

Every atom is wrapped in ``COALESCE(..., FALSE)`` so that ``NOT`` is a true complement: a document
without the key matches ``$ne`` / ``$nin`` / ``NOT``, as the same test on a Python dict would.
Integers are compared as doubles (exact up to 2**53).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql.literal import sql_literal

__all__ = [
    "and_",
    "array_contains",
    "compare",
    "exists",
    "is_empty",
    "like",
    "not_",
    "one_of",
    "or_",
]

_OPS = {"=", "<>", "<", "<=", ">", ">="}


def _path(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"metadata key must be a non-empty string, got {key!r}")
    return sql_literal("$[" + json.dumps(key) + "]")


def _guard(expr: str) -> str:
    return f"COALESCE({expr}, FALSE)"


def _string_value(column: str, key: str) -> str:
    # CASE, not AND: json_get_string raises on lists and dicts, and AND does not short-circuit.
    return (
        f"(CASE WHEN json_extract({column}, {_path(key)}) LIKE '\"%' "
        f"THEN json_get_string({column}, {sql_literal(key)}) END)"
    )


def compare(column: str, key: str, op: str, value: Any) -> str:
    """Predicate ``metadata[key] <op> value`` with the value's own JSON type.

    Args:
        column: The JSON column (e.g. ``"metadata"``).
        key: Top-level metadata key.
        op: One of ``= <> < <= > >=``.
        value: A str, int, float, bool or None (None and bools only with ``=`` / ``<>``).

    Returns:
        A boolean SQL expression that is never NULL.

    Raises:
        InvalidInputError: For an unsupported operator or value type.
    """
    if op not in _OPS:
        raise InvalidInputError(f"unsupported comparison operator {op!r}")
    if op == "<>":
        return not_(compare(column, key, "=", value))
    path = _path(key)
    if value is None or isinstance(value, bool):
        if op != "=":
            raise InvalidInputError(f"{value!r} can only be compared for (in)equality")
        text = "null" if value is None else ("true" if value else "false")
        return _guard(f"json_extract({column}, {path}) = '{text}'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidInputError(f"cannot filter on non-finite number {value!r}")
        return _guard(f"TRY_CAST(json_extract({column}, {path}) AS DOUBLE) {op} {float(value)!r}")
    if isinstance(value, str):
        return _guard(f"{_string_value(column, key)} {op} {sql_literal(value)}")
    raise InvalidInputError(
        f"cannot filter on a value of type {type(value).__name__} for key {key!r}"
        " (use str, int, float, bool or None)"
    )


def one_of(column: str, key: str, values: Sequence[Any]) -> str:
    """Predicate ``metadata[key] in values`` (FALSE for an empty list)."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInputError(f"expected a list of values for key {key!r}, got {values!r}")
    return or_([compare(column, key, "=", v) for v in values])


def exists(column: str, key: str) -> str:
    """Predicate: the key is present (its value may be null)."""
    return _guard(f"json_exists({column}, {_path(key)})")


def is_empty(column: str, key: str) -> str:
    """Predicate: the key is missing, null, an empty string or an empty list."""
    path = _path(key)
    return _guard(
        f"json_extract({column}, {path}) IS NULL OR json_extract({column}, {path}) IN "
        "('null', '\"\"', '[]')"
    )


def like(column: str, key: str, pattern: str, *, case_insensitive: bool = False) -> str:
    """Predicate: the string value matches a SQL LIKE pattern (``%`` and ``_`` wildcards)."""
    if not isinstance(pattern, str):
        raise InvalidInputError(f"LIKE pattern for key {key!r} must be a string, got {pattern!r}")
    op = "ILIKE" if case_insensitive else "LIKE"
    return _guard(f"{_string_value(column, key)} {op} {sql_literal(pattern)}")


def _jsonpath_literal(value: Any, key: str) -> str:
    """``value`` as a literal of the JSONPath filter language Lance evaluates (jsonb crate)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return str(value)
    if isinstance(value, int | float):
        v = float(value)
        if not math.isfinite(v):
            raise InvalidInputError(f"cannot test list membership of {value!r} for key {key!r}")
        # The path parser reads a leading digit run as an integer and then fails on ".5", so a
        # float is written as ".<17 significant digits>e<exp>": exact, and parsed as a double.
        mantissa, exp = f"{abs(v):.16e}".split("e")
        sign = "-" if v < 0 else ""
        return f"{sign}.{mantissa.replace('.', '')}e{int(exp) + 1}"
    raise InvalidInputError(
        f"cannot test list membership of {value!r} for key {key!r}"
        " (use str, int, float, bool or None)"
    )


def array_contains(column: str, key: str, value: Any) -> str:
    """Predicate: the value at ``key`` is a list holding an element equal to ``value``, type-exact.

    Equality is JSON's, not text's: ``"1"`` does not match ``[1, 2]``, ``1`` does not match
    ``["1"]``, ``"true"`` does not match ``[true]``, booleans never equal numbers, and numbers
    compare as numbers (``1.0`` matches ``[1]``; integers exactly up to 2**64, larger ones as
    doubles). Only the list's own elements count: ``1`` does not match ``[[1]]``, and a scalar
    ``1`` at ``key`` is not a list holding 1.

    How: a JSONPath filter over the list's elements, ``$[key][*] ? (@ == v || @[0] == $)``. The
    jsonb engine compares an array element by its members, so ``[1]`` would equal ``1``; the
    second arm makes such an element's test undecidable (``@[0]`` is a member, ``$`` the whole
    metadata object, and a comparison with an object has no answer, which fails the element),
    while for a scalar element ``@[0]`` selects nothing and the arm is plainly false. This needs
    the column's documents to be JSON objects, as metadata always is.

    Raises:
        InvalidInputError: For a value that is not a str, int, float, bool or None, or NaN/inf.
    """
    where = _path(key)
    # The path language has no empty string literal: "" is the one string below "\u0000".
    if isinstance(value, str) and not value:
        test = '@ < "\\u0000"'
    else:
        test = f"@ == {_jsonpath_literal(value, key)}"
    path = "$[" + json.dumps(key, ensure_ascii=False) + "]"
    members = sql_literal(f"{path}[*] ? ({test} || @[0] == $)")
    return _guard(
        f"json_extract({column}, {where}) LIKE '[%' AND json_exists({column}, {members})"
    )


def and_(parts: Sequence[str]) -> str:
    """Conjunction (TRUE when empty)."""
    return "(" + " AND ".join(f"({p})" for p in parts) + ")" if parts else "TRUE"


def or_(parts: Sequence[str]) -> str:
    """Disjunction (FALSE when empty)."""
    return "(" + " OR ".join(f"({p})" for p in parts) + ")" if parts else "FALSE"


def not_(part: str) -> str:
    """Negation of a never-NULL predicate."""
    return f"(NOT ({part}))"
