"""Rows in and out of the server: request fields -> an Arrow batch, table rows -> JSON.

A collection's row is ``id``, ``text`` (nullable) and one column per metadata key (so the dict
filter language of :mod:`lance_spiral.table.sql.filters` reaches metadata directly). The first
rows of a collection fix its metadata columns and their types; later rows may leave keys out
(null) but not bring new ones or other types. Everything is checked before anything is written.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.errors import DTypeError, InvalidInputError
from lance_spiral.table import CompressedTable

__all__ = ["MAX_ID_LENGTH", "TEXT", "build_rows", "check_ids", "jsonable", "result_rows"]

TEXT = "text"
MAX_ID_LENGTH = 512
_SCALARS = (str, int, float, bool)


def check_ids(ids: Sequence[Any] | None, n: int, id_type: str | None) -> list[Any]:
    """Validated ids for ``n`` rows (new UUIDs when ``ids`` is None).

    Raises:
        InvalidInputError: Wrong count, duplicates, empty or over-long strings, or ids of
            another type than the collection's.
    """
    if ids is None:
        if id_type == "int64":
            raise InvalidInputError("this collection has integer ids: pass ids explicitly")
        return [uuid.uuid4().hex for _ in range(n)]
    ids = list(ids)
    if len(ids) != n:
        raise InvalidInputError(f"got {len(ids)} ids for {n} rows")
    want_int = id_type == "int64" or (id_type is None and ids and all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids))
    for i in ids:
        if want_int:
            if isinstance(i, bool) or not isinstance(i, int):
                raise InvalidInputError(f"ids of this collection are integers, got {i!r}")
        elif not isinstance(i, str) or not i or len(i) > MAX_ID_LENGTH:
            raise InvalidInputError(
                f"ids must be non-empty strings of at most {MAX_ID_LENGTH} characters"
                f" (or all integers), got {str(i)[:80]!r}")
    if len(set(ids)) != len(ids):
        seen: set[Any] = set()
        dup = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
        raise InvalidInputError(f"duplicate ids in one request: {dup[:10]}")
    return ids


def _check_value(key: str, v: Any) -> None:
    if v is None or isinstance(v, _SCALARS):
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidInputError(f"metadata {key!r} holds {v}: numbers must be finite")
        return
    if isinstance(v, list) and all(x is not None and isinstance(x, _SCALARS) for x in v):
        for x in v:
            _check_value(key, x)
        return
    raise DTypeError(f"metadata {key!r} must be a string, number, bool, null or a list of those;"
                     f" got {type(v).__name__}")


def _metadata_columns(metadata: Sequence[Any], n: int, reserved: set[str]
                      ) -> dict[str, pa.Array]:
    if len(metadata) != n:
        raise InvalidInputError(f"got {len(metadata)} metadata entries for {n} rows")
    keys: list[str] = []
    for row in metadata:
        if row is None:
            continue
        if not isinstance(row, dict):
            raise DTypeError(f"each metadata entry must be an object, got {type(row).__name__}")
        for k, v in row.items():
            if not isinstance(k, str) or not k or k.startswith("_") or k in reserved:
                raise InvalidInputError(
                    f"metadata key {k!r} is reserved or invalid (reserved: {sorted(reserved)},"
                    " and names starting with '_')")
            _check_value(k, v)
            if k not in keys:
                keys.append(k)
    cols: dict[str, pa.Array] = {}
    for k in keys:
        values = [None if row is None else row.get(k) for row in metadata]
        try:
            arr = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInputError(f"metadata {k!r} mixes value types: {exc}") from exc
        if pa.types.is_null(arr.type):
            arr = arr.cast(pa.string())
        cols[k] = arr
    return cols


def build_rows(table: CompressedTable, ids: list[Any], vectors: npt.NDArray[np.float32],
               texts: Sequence[str | None] | None, metadata: Sequence[Any] | None) -> pa.Table:
    """The Arrow rows to add to ``table`` (checked against its columns before any write).

    Raises:
        InvalidInputError: Unknown metadata keys for a collection that has rows, values that do
            not fit a column's type, bad counts.
    """
    m = table.meta
    n = len(ids)
    if texts is not None and len(texts) != n:
        raise InvalidInputError(f"got {len(texts)} texts for {n} rows")
    reserved = {m.id_column, m.vector_column, TEXT, *m.internal_columns()}
    cols: dict[str, Any] = {m.id_column: pa.array(
        ids, pa.int64() if ids and isinstance(ids[0], int) else pa.string())}
    has_schema = m.codec_file is not None
    if texts is not None or not has_schema or TEXT in table.schema.names:
        cols[TEXT] = pa.array(list(texts) if texts is not None else [None] * n, pa.string())
    if metadata is not None:
        meta_cols = _metadata_columns(metadata, n, reserved)
        if has_schema:
            unknown = [k for k in meta_cols if k not in m.payload]
            if unknown:
                raise InvalidInputError(
                    f"unknown metadata keys {unknown}: this collection's metadata columns are"
                    f" {[c for c in m.payload if c != TEXT]} (fixed by its first rows)")
            for k, arr in meta_cols.items():
                want = table.schema.field(k).type
                if arr.type != want:
                    try:
                        meta_cols[k] = arr.cast(want)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise InvalidInputError(
                            f"metadata {k!r} has values of type {arr.type}, the collection's"
                            f" column is {want}") from exc
        cols.update(meta_cols)
    cols[m.vector_column] = pa.FixedSizeListArray.from_arrays(
        pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1])
    return pa.table(cols)


def jsonable(v: Any) -> Any:
    """A JSON-safe copy of a value read from a table (NaN -> None, bytes -> base64)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (np.floating, np.integer)):
        return jsonable(v.item())
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    return v


def result_rows(tbl: pa.Table, id_column: str, *, score: bool = True) -> list[dict[str, Any]]:
    """Search or get results as ``[{id, score?, metadata, text?}, ...]``."""
    out = []
    skip = {id_column, TEXT, "_score", "_query_index", "_distance"}
    for row in tbl.to_pylist():
        item: dict[str, Any] = {"id": row[id_column]}
        if score:
            item["score"] = jsonable(row.get("_score"))
        item["metadata"] = {k: jsonable(v) for k, v in row.items() if k not in skip}
        if row.get(TEXT) is not None:
            item["text"] = row[TEXT]
        out.append(item)
    return out
