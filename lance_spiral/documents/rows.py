"""Rows of a document table as Python dicts (metadata as JSON text)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

__all__ = ["decoded_row", "table_rows"]

METADATA = "metadata"


def decoded_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its metadata as JSON text (Lance's JSON type may come back otherwise)."""
    value = row.get(METADATA)
    if value is not None and not isinstance(value, str):
        row[METADATA] = str(value)
    return row


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as dicts, the JSON metadata column as text."""
    if METADATA in table.column_names:
        col = table.column(METADATA)
        if isinstance(col.type, pa.ExtensionType):
            idx = table.column_names.index(METADATA)
            table = table.set_column(idx, METADATA, col.cast(pa.string()))
    return table.to_pylist()
