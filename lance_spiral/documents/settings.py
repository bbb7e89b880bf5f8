"""What a document store asks of its table: settings checked, never silently replaced.

A store opened on an existing table with another codec, metric, mode or table option than the
table was made with raises instead of quietly using the table's own (re-encoding is an explicit
``requantize``); unknown table options raise when the store is built, not at the first write.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from lance_spiral.codecs import make_codec
from lance_spiral.errors import InvalidParameterError
from lance_spiral.table import CompressedTable, create_table

__all__ = ["COLUMNS", "check_create_kwargs", "check_table", "same_codec"]

ID, TEXT, METADATA, VECTOR = COLUMNS = ("id", "text", "metadata", "vector")
_RESERVED = {"uri", "data", "dim", "vector_column", "id_column", "codec", "mode", "metric",
             "exist_ok", "progress", "storage_options"}
_META_KEYS = ("fit_rows", "nlist")


def check_create_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``create_table`` options a store may pass (``fit_rows``, ``nlist``...), checked.

    Raises:
        InvalidParameterError: An option ``create_table`` does not take, or one the store sets.
    """
    out = dict(kwargs or {})
    allowed = set(inspect.signature(create_table).parameters) - _RESERVED
    bad = sorted(set(out) - allowed)
    if bad:
        raise InvalidParameterError(
            f"unknown or reserved table option(s) {bad}; allowed: {sorted(allowed)}"
            " (codec, metric and mode are store arguments)")
    return out


def same_codec(a: str, b: str, metric: str) -> bool:
    """Whether two codec specs name the same codec (defaults filled in: ``sq`` = ``sq:bits=8``)."""
    return make_codec(a, metric=metric).spec == make_codec(b, metric=metric).spec


def check_table(table: CompressedTable, uri: str, *, codec: str | None, metric: str | None,
                mode: str | None, create_kwargs: Mapping[str, Any]) -> None:
    """Raise unless the table matches every setting the caller gave (None: not given).

    Raises:
        InvalidParameterError: A different codec, metric, mode or table option, or a table
            without the document columns.
    """
    m = table.meta
    wrong: list[str] = []
    if metric is not None and metric != m.metric:
        wrong.append(f"metric {m.metric!r} (asked {metric!r})")
    if codec is not None and not same_codec(codec, m.codec_spec, m.metric):
        wrong.append(f"codec {m.codec_spec!r} (asked {codec!r})")
    if mode is not None and mode != m.mode:
        wrong.append(f"mode {m.mode!r} (asked {mode!r})")
    for key in _META_KEYS:
        if key in create_kwargs and create_kwargs[key] != getattr(m, key):
            wrong.append(f"{key}={getattr(m, key)!r} (asked {create_kwargs[key]!r})")
    if wrong:
        raise InvalidParameterError(
            f"the table at {uri} already exists with " + ", ".join(wrong) + ": open it without"
            " these arguments to use the table's own, or re-encode it with the store's"
            " requantize(codec)")
    if m.id_column != ID or m.vector_column != VECTOR or (
            m.payload and not {TEXT, METADATA} <= set(m.payload)):
        raise InvalidParameterError(
            f"the table at {uri} is not a document table (columns id, text, metadata, vector);"
            f" it has id {m.id_column!r}, vector {m.vector_column!r}, payload {m.payload}")
