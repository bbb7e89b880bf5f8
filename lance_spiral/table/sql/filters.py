"""Dict filters over a table's columns, compiled to Lance SQL; and the check of raw SQL.

A dict filter is safe to take from a user or an LLM: every identifier is quoted, every literal
escaped, and every value checked against its column's Arrow type before any SQL exists. Raw SQL
(``sql=`` on the table entry points) is trusted input only; :func:`check_sql` refuses the one
thing Lance gets silently wrong with it (a ``;`` drops everything after it).

The language (Mongo / Chroma style)::

    {"year": 1997}                                  equality (None: the value is null)
    {"year": {"$gte": 1990, "$lt": 2000}}           $eq $ne $gt $gte $lt $lte (several: AND)
    {"lang": {"$in": ["en", "fr"]}}                 $in / $nin (None in the list: null)
    {"title": {"$like": "Cell%"}}                   SQL LIKE on string columns (% and _)
    {"tags": {"$contains": "bio"}}                  list columns: the list holds the value
    {"doi": {"$exists": True}}                      null test
    {"$and": [f, ...]}  {"$or": [f, ...]}  {"$not": f}   several keys at one level: AND

Semantics are those of the same test on a Python dict row: a null (or missing) value matches no
comparison, and ``$ne`` / ``$nin`` / ``$not`` are the exact complements of ``$eq`` / ``$in`` /
their operand (so they match nulls). Values must have the column's type: strings for string
columns, numbers (not bools) for numeric columns, bools for bool columns, ``datetime.date`` for
date columns, ``datetime.datetime`` for timestamps, and the element type for ``$contains``.
Integer columns compare with floats as Python does (``2.0`` equals ``2``, ``> 1.5`` is ``>= 2``);
a float32 column compares the value rounded to float32 (Lance casts the literal to the column).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from lance_spiral.errors import InvalidInputError
from lance_spiral.table.sql.literal import quote_ident, sql_literal

__all__ = ["check_sql", "compile_filter", "filter_sql"]

_CMP = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPS = (*_CMP, "$in", "$nin", "$like", "$contains", "$exists")
_LOGICAL = ("$and", "$or", "$not")
_MAX_DEPTH = 32


def check_sql(sql: Any, *, what: str = "sql") -> str:
    """Check a raw (trusted) Lance SQL predicate: a non-empty string holding one expression.

    Lance parses only the first statement of ``"a = 1; b = 2"`` and silently drops the rest, so a
    ``;`` outside quotes is refused, as is a comment that could hide one.

    Args:
        sql: The predicate.
        what: Name of the argument, for messages.

    Returns:
        ``sql`` unchanged.

    Raises:
        InvalidInputError: Not a non-empty string, or more than one statement.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInputError(f"{what} must be a non-empty SQL string, got {sql!r}")
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
        elif ch == ";":
            raise InvalidInputError(
                f"{what} holds a ';' outside quotes: Lance would run only the part before it"
                f" and silently drop the rest ({sql!r}); give one predicate"
            )
        i += 1
    return sql


def filter_sql(
    filter: Any,
    sql: Any,
    schema: pa.Schema,
    *,
    protected: Iterable[str] = (),
    what: str = "filter",
) -> str | None:
    """The Lance predicate of an entry point's ``filter`` (dict) and ``sql`` (raw) arguments.

    Args:
        filter: A dict filter (see the module docs) or ``None``.
        sql: A raw, trusted Lance SQL predicate or ``None``.
        schema: The table's Arrow schema.
        protected: Columns a dict filter may not name (the library's own).
        what: Name of the ``filter`` argument, for messages.

    Returns:
        The predicate, or ``None`` when neither is given.

    Raises:
        InvalidInputError: A string given as ``filter`` (raw SQL needs ``sql=``), both given, or
            a bad filter or SQL.
    """
    if isinstance(filter, str):
        raise InvalidInputError(
            f"{what} takes a dict filter such as {{'year': {{'$gte': 2000}}}}, got the string"
            f" {filter!r}; raw Lance SQL goes through the keyword sql= (trusted input only:"
            " never pass a user's or a model's text there)"
        )
    if filter is not None and sql is not None:
        raise InvalidInputError(f"give either {what} (a dict) or sql=, not both")
    if sql is not None:
        return check_sql(sql)
    if filter is None:
        return None
    return compile_filter(filter, schema, protected=protected)


def compile_filter(
    filter: Mapping[str, Any], schema: pa.Schema, *, protected: Iterable[str] = ()
) -> str:
    """Compile a dict filter into a Lance SQL predicate (never NULL; see the module docs).

    Args:
        filter: The filter (``{}`` matches every row).
        schema: The table's Arrow schema (column names and types).
        protected: Columns that may not be filtered on.

    Returns:
        A boolean SQL expression with quoted identifiers and escaped literals.

    Raises:
        InvalidInputError: Not a dict, unknown or protected columns, unknown operators, values
            of the wrong type, NaN or infinite numbers, values out of the column's range.
    """
    return _Compiler(schema, set(protected)).node(filter, 0)


class _Compiler:
    def __init__(self, schema: pa.Schema, protected: set[str]) -> None:
        self.schema = schema
        self.protected = protected

    def node(self, f: Any, depth: int) -> str:
        if depth > _MAX_DEPTH:
            raise InvalidInputError(f"filter is nested deeper than {_MAX_DEPTH} levels")
        if isinstance(f, str):
            raise InvalidInputError(
                f"a filter must be a dict, got the string {f!r} (raw SQL goes through sql=)")
        if not isinstance(f, Mapping):
            raise InvalidInputError(f"a filter must be a dict, got {type(f).__name__}: {f!r}")
        parts: list[str] = []
        for key, val in f.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"filter keys must be strings, got {key!r}")
            if key in ("$and", "$or"):
                if isinstance(val, (str, Mapping)) or not isinstance(val, Sequence):
                    raise InvalidInputError(f"{key} takes a list of filters, got {val!r}")
                subs = [self.node(v, depth + 1) for v in val]
                parts.append(_and(subs) if key == "$and" else _or(subs))
            elif key == "$not":
                parts.append(_not(self.node(val, depth + 1)))
            elif key.startswith("$"):
                raise InvalidInputError(
                    f"unknown filter operator {key!r} at the top level; logical operators are"
                    f" {list(_LOGICAL)}, column operators {list(_OPS)}")
            else:
                parts.append(self.column(key, val))
        return _and(parts)

    def field(self, name: str) -> pa.Field:
        idx = self.schema.get_field_index(name)
        if name in self.protected or name.startswith("_"):
            raise InvalidInputError(f"column {name!r} is internal to the table and cannot be"
                                    " filtered on")
        if idx < 0:
            cols = [n for n in self.schema.names
                    if n not in self.protected and not n.startswith("_")]
            raise InvalidInputError(f"unknown column {name!r} in filter; columns: {cols}")
        return self.schema.field(idx)

    def column(self, name: str, val: Any) -> str:
        fld = self.field(name)
        col = quote_ident(name)
        if not isinstance(val, Mapping):
            if isinstance(val, (list, tuple, set)):
                raise InvalidInputError(
                    f"filter value for {name!r} is a list: use {{'$in': [...]}} for one of"
                    " several values, or {'$contains': v} for list columns")
            return self.op(fld, col, "$eq", val)
        if not val:
            raise InvalidInputError(f"filter for column {name!r} is an empty dict (no operator)")
        parts = []
        for op, v in val.items():
            if op not in _OPS:
                raise InvalidInputError(
                    f"unknown operator {op!r} for column {name!r}; operators: {list(_OPS)}")
            parts.append(self.op(fld, col, op, v))
        return _and(parts)

    def op(self, fld: pa.Field, col: str, op: str, v: Any) -> str:
        kind = _kind(fld.type)
        v = _py(v)
        if op == "$exists":
            if not isinstance(v, bool):
                raise InvalidInputError(f"$exists for {fld.name!r} takes True or False, got {v!r}")
            return f"{col} IS NOT NULL" if v else f"{col} IS NULL"
        if kind == "list":
            if op != "$contains":
                raise InvalidInputError(
                    f"column {fld.name!r} holds lists ({fld.type}): filter it with $contains or"
                    " $exists")
            elem = _kind(fld.type.value_type)
            lit = self.literal(fld, elem, fld.type.value_type, v, "$contains")
            if lit is None:
                return "FALSE"
            return _guard(f"array_has({col}, {lit})")
        if op == "$contains":
            raise InvalidInputError(
                f"$contains needs a list column; {fld.name!r} is {fld.type}"
                + (" (use $like for substrings)" if kind == "string" else ""))
        if kind not in ("int", "float", "string", "bool", "date", "timestamp"):
            raise InvalidInputError(
                f"column {fld.name!r} of type {fld.type} cannot be compared in a dict filter"
                " (only $exists); use sql= for trusted raw SQL")
        if op == "$like":
            if kind != "string":
                raise InvalidInputError(f"$like needs a string column; {fld.name!r} is {fld.type}")
            if not isinstance(v, str):
                raise InvalidInputError(f"$like for {fld.name!r} takes a string pattern, got {v!r}")
            return _guard(f"{col} LIKE {sql_literal(v)}")
        if op in ("$in", "$nin"):
            if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, (Sequence, set)):
                raise InvalidInputError(f"{op} for {fld.name!r} takes a list of values, got {v!r}")
            values = list(v)
            lits = [self.literal(fld, kind, fld.type, x, "$eq") for x in values if x is not None]
            kept = sorted({x for x in lits if x is not None})
            parts = [f"{col} IS NULL"] if any(x is None for x in values) else []
            if kept:
                parts.append(_guard(f"{col} IN ({', '.join(kept)})"))
            expr = _or(parts)
            return expr if op == "$in" else _not(expr)
        if v is None:
            if op == "$eq":
                return f"{col} IS NULL"
            if op == "$ne":
                return f"{col} IS NOT NULL"
            raise InvalidInputError(f"{op} for {fld.name!r} cannot take None")
        if op == "$ne":
            return _not(self.op(fld, col, "$eq", v))
        if kind == "bool" and op != "$eq":
            raise InvalidInputError(f"bool column {fld.name!r} supports only $eq/$ne/$in/$nin")
        if kind == "int" and isinstance(v, float) and not isinstance(v, bool) \
                and math.isfinite(v) and not v.is_integer():
            # Python compares 3 > 2.5; Lance refuses a float literal on an integer column.
            if op == "$eq":
                return "FALSE"
            op, v = (("$gte", math.ceil(v)) if op in ("$gt", "$gte")
                     else ("$lte", math.floor(v)))
        lit = self.literal(fld, kind, fld.type, v, op)
        if lit is None:
            return "FALSE"
        return _guard(f"{col} {_CMP[op]} {lit}")

    def literal(self, fld: pa.Field, kind: str, typ: pa.DataType, v: Any, op: str
                ) -> str | None:
        """The SQL literal of ``v`` for a value of ``typ`` (None: no value of it can match)."""
        name = fld.name
        v = _py(v)
        if v is None:
            raise InvalidInputError(f"{op} for {name!r} cannot take None")
        if kind in ("int", "float"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InvalidInputError(
                    f"column {name!r} holds numbers ({typ}); got {type(v).__name__} {v!r}")
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidInputError(f"cannot filter {name!r} on non-finite number {v!r}")
            if kind == "float":
                return sql_literal(float(v))
            if isinstance(v, float):
                if not v.is_integer():
                    return None
                v = int(v)
            lo, hi = _int_range(typ)
            if not lo <= v <= hi:
                raise InvalidInputError(
                    f"value {v} is out of the range of column {name!r} ({typ}: {lo}..{hi})")
            return str(int(v))
        if kind == "string":
            if not isinstance(v, str):
                raise InvalidInputError(
                    f"column {name!r} holds strings; got {type(v).__name__} {v!r}")
            return sql_literal(v)
        if kind == "bool":
            if not isinstance(v, bool):
                raise InvalidInputError(
                    f"column {name!r} holds booleans; got {type(v).__name__} {v!r}")
            return sql_literal(v)
        if kind == "date":
            if isinstance(v, dt.datetime) or not isinstance(v, dt.date):
                raise InvalidInputError(
                    f"column {name!r} holds dates; give a datetime.date, got {v!r}")
            return f"DATE '{v.isoformat()}'"
        if kind == "timestamp":
            if not isinstance(v, dt.datetime):
                raise InvalidInputError(
                    f"column {name!r} holds timestamps; give a datetime.datetime, got {v!r}")
            if (v.tzinfo is None) != (typ.tz is None):
                raise InvalidInputError(
                    f"column {name!r} is {typ}: give a "
                    + ("timezone-aware" if typ.tz is not None else "naive") + " datetime")
            return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
        raise InvalidInputError(f"column {name!r} of type {typ} cannot be compared in a dict"
                                " filter; use sql= for trusted raw SQL")


def _py(v: Any) -> Any:
    """Python values of numpy scalars (``np.int64(3)`` -> ``3``)."""
    return v.item() if isinstance(v, np.generic) else v


def _kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return _kind(t.value_type)
    if isinstance(t, pa.ExtensionType):
        return "other"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "list"
    return "other"


def _int_range(t: pa.DataType) -> tuple[int, int]:
    bits = t.bit_width
    if pa.types.is_signed_integer(t):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _guard(expr: str) -> str:
    return f"COALESCE({expr}, FALSE)"


def _and(parts: Sequence[str]) -> str:
    if not parts:
        return "TRUE"
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(f"({p})" for p in parts) + ")"


def _or(parts: Sequence[str]) -> str:
    if not parts:
        return "FALSE"
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(f"({p})" for p in parts) + ")"


def _not(part: str) -> str:
    return f"(NOT ({part}))"
