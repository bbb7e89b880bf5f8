"""SQL literals and filters for Lance, and clear errors when Lance rejects a filter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lance_spiral.errors import InvalidInputError, LanceSpiralError

__all__ = ["lance_error", "quote_ident", "sql_in", "sql_literal"]


def sql_literal(value: Any) -> str:
    """Render a Python value as a SQL literal for Lance filters and updates.

    Raises:
        InvalidInputError: Values without a SQL literal (lists, dicts, NaN...).
    """
    if value is None:
        return "NULL"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise InvalidInputError(f"cannot store non-finite value {value!r}")
        return repr(float(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise InvalidInputError(
        f"value {value!r} of type {type(value).__name__} has no SQL literal"
        " (use str/int/float/bool)"
    )


def sql_in(column: str, values: Sequence[Any]) -> str:
    """``column IN (v1, v2, ...)`` with escaped literals."""
    if not values:
        raise InvalidInputError("empty id list")
    kinds = {isinstance(v, str) for v in values}
    if len(kinds) > 1:
        raise InvalidInputError("ids mix strings and numbers")
    for v in values:
        if not isinstance(v, (str, int, np.integer)) or isinstance(v, bool):
            raise InvalidInputError(f"ids must be strings or integers, got {v!r}")
    return f"{quote_ident(column)} IN (" + ", ".join(sql_literal(v) for v in values) + ")"


def quote_ident(name: str) -> str:
    """A column name quoted for Lance SQL (backticks; any character but a backtick).

    Raises:
        InvalidInputError: Empty names, or names holding a backtick (Lance cannot quote them).
    """
    if not isinstance(name, str) or not name or "`" in name:
        raise InvalidInputError(f"column name {name!r} cannot be used in a filter")
    return f"`{name}`"


def lance_error(exc: BaseException, where: str | None) -> LanceSpiralError:
    """Turn a Lance failure on a filter into an :class:`InvalidInputError` naming the filter."""
    msg = str(exc).split(", /")[0].strip()
    return InvalidInputError(f"Lance rejected the filter {where!r}: {msg}")
