"""Chroma's ``where_document`` filters on the document text, compiled to Lance SQL.

Grammar (Chroma's, one operator per dict)::

    {"$contains": "word"}        the text holds this substring (case-sensitive)
    {"$not_contains": "word"}    it does not
    {"$regex": "pat"}            the text matches this regular expression (Rust regex syntax,
    {"$not_regex": "pat"}        the same engine as Chroma's)
    {"$and": [f, ...]}, {"$or": [f, ...]}

Exact semantics (a substring or regex test on every row), evaluated by Lance's SQL engine as a
prefilter: no full-text index is needed and nothing is approximated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql import quote_ident, sql_literal

__all__ = ["TEXT_OPERATORS", "where_document_sql"]

TEXT_OPERATORS = ("$contains", "$not_contains", "$regex", "$not_regex", "$and", "$or")


def _compile(flt: Any, col: str, depth: int) -> str:
    if depth > 32:
        raise InvalidInputError("where_document is nested too deeply (more than 32 levels)")
    if not isinstance(flt, Mapping) or len(flt) != 1:
        raise InvalidInputError(
            f"a where_document filter is a dict with exactly one operator of {TEXT_OPERATORS},"
            f" got {flt!r}")
    (op, value), = flt.items()
    if op in ("$and", "$or"):
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or not value:
            raise InvalidInputError(f"{op} in where_document takes a non-empty list, got {value!r}")
        joined = f" {op[1:].upper()} ".join(f"({_compile(v, col, depth + 1)})" for v in value)
        return f"({joined})"
    if op not in TEXT_OPERATORS:
        raise InvalidInputError(
            f"unknown where_document operator {op!r}; expected one of {TEXT_OPERATORS}")
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{op} in where_document takes a non-empty string, got {value!r}")
    fn = "contains" if op.endswith("contains") else "regexp_like"
    test = f"COALESCE({fn}({col}, {sql_literal(value)}), FALSE)"
    return f"NOT {test}" if op.startswith("$not_") else test


def where_document_sql(where_document: Mapping[str, Any] | None, *, column: str = "text"
                       ) -> str | None:
    """Translate a Chroma ``where_document`` dict into a Lance SQL predicate (None: no filter).

    Raises:
        InvalidInputError: An unknown operator, a non-string operand, or a malformed dict.
    """
    if where_document is None:
        return None
    if isinstance(where_document, Mapping) and not where_document:
        return None
    return _compile(where_document, quote_ident(column), 0)
