"""Turn user data (Arrow, pandas, dicts, iterables of batches) into clean row batches.

A :class:`RowBatch` is what the writer needs: the ids (an Arrow array), the float32 vectors
(validated: finite, one width) and the payload columns (an Arrow table). A :class:`RowSource`
wraps the user's data so that a write whose commit lost a race can read it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lance_spiral._validation import as_vectors
from lance_spiral.errors import (
    DimensionError,
    DTypeError,
    EmptyInputError,
    InvalidInputError,
    TableError,
)

__all__ = ["REPLAY_BYTES", "RowBatch", "RowSource", "check_unique_ids", "iter_batches",
           "vectors_from_arrow"]

REPLAY_BYTES = 256 * 1024 * 1024


@dataclass
class RowBatch:
    """One clean batch of rows: ids, vectors and payload."""

    ids: pa.Array
    vectors: npt.NDArray[np.float32]
    payload: pa.Table

    def __len__(self) -> int:
        return len(self.ids)


def _to_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, dict):
        cols = {}
        for k, v in data.items():
            if isinstance(v, np.ndarray) and v.ndim == 2:
                cols[k] = pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(v).reshape(-1)), v.shape[1]
                )
            else:
                cols[k] = v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(
                    list(v) if isinstance(v, np.ndarray) and v.dtype == object else v
                )
        return pa.table(cols)
    if isinstance(data, list):
        if not data:
            return pa.table({})
        if not all(isinstance(r, dict) for r in data):
            raise DTypeError("a list of rows must hold dicts (one per row)")
        keys: list[str] = []
        for r in data:
            keys.extend(k for k in r if k not in keys)
        return _to_table({k: [_plain(r.get(k)) for r in data] for k in keys})
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a core dependency of lancedb
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return _to_table({c: list(data[c]) if data[c].dtype == object else data[c].to_numpy()
                          for c in data.columns})
    raise DTypeError(
        f"unsupported data of type {type(data).__name__}: give a pyarrow Table/RecordBatch,"
        " a pandas DataFrame, a list of dicts, a dict of columns, or an iterable of those"
    )


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def vectors_from_arrow(col: pa.Array | pa.ChunkedArray, name: str) -> npt.NDArray[np.float32]:
    """Convert a list/fixed-size-list column of floats to a validated float32 ``[n, d]`` array.

    Raises:
        InvalidInputError: Null vectors.
        DimensionError: Ragged vectors.
        DTypeError: Non-float values.
        NonFiniteError: NaN / inf values.
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    if not (pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type)
            or pa.types.is_large_list(arr.type)):
        raise DTypeError(f"column {name!r} must hold lists of floats, got {arr.type}")
    if arr.null_count:
        raise InvalidInputError(f"column {name!r} has {arr.null_count} null vector(s)")
    if pa.types.is_fixed_size_list(arr.type):
        dim = arr.type.list_size
    else:
        lengths = np.asarray(arr.value_lengths())
        dim = int(lengths[0])
        if (lengths != dim).any():
            raise DimensionError(f"column {name!r} has vectors of different lengths"
                                 f" ({lengths.min()}..{lengths.max()})")
    values = arr.flatten()
    if not (pa.types.is_floating(values.type) or pa.types.is_null(values.type)):
        raise DTypeError(
            f"column {name!r} must hold floating-point vectors, got {values.type} values"
            " (convert integer vectors explicitly, e.g. with numpy .astype('float32'))")
    if values.null_count:
        raise InvalidInputError(f"column {name!r} has null values inside vectors")
    flat = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if dim == 0:
        raise EmptyInputError(f"column {name!r} holds zero-length vectors")
    return as_vectors(flat.reshape(n, dim), name=f"column {name!r}")


def _row_batch(tbl: pa.Table, vector_column: str, id_column: str) -> RowBatch:
    names = tbl.column_names
    if vector_column not in names:
        raise InvalidInputError(f"data has no vector column {vector_column!r} (columns: {names})")
    if id_column not in names:
        raise InvalidInputError(f"data has no id column {id_column!r} (columns: {names})")
    ids = tbl.column(id_column).combine_chunks()
    if ids.null_count:
        raise InvalidInputError(f"id column {id_column!r} has {ids.null_count} null id(s)")
    if pa.types.is_integer(ids.type):
        ids = ids.cast(pa.int64())
    elif pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.string())
    else:
        raise DTypeError(f"id column {id_column!r} must hold strings or integers, got {ids.type}")
    vectors = vectors_from_arrow(tbl.column(vector_column), vector_column)
    payload = tbl.drop_columns([vector_column, id_column])
    for c in payload.column_names:
        if c.startswith(f"{vector_column}_") or c.startswith("_"):
            raise InvalidInputError(
                f"payload column {c!r} uses a reserved name (prefix '_' or '{vector_column}_')"
            )
    return RowBatch(ids=ids, vectors=vectors, payload=payload)


def iter_batches(data: Any, *, vector_column: str, id_column: str) -> Iterator[RowBatch]:
    """Yield clean non-empty :class:`RowBatch` es from any supported input.

    ``data`` may be one table-like object or an iterable (list, generator, RecordBatchReader)
    of them. A list of dicts counts as one table.

    Raises:
        DTypeError: Unsupported input type.
        InvalidInputError: Missing columns, null ids or vectors, reserved names.
    """
    if data is None:
        raise EmptyInputError("data is None")
    if isinstance(data, pa.RecordBatchReader):
        parts: Iterable[Any] = data
    elif isinstance(data, Iterator) or (
        isinstance(data, (list, tuple)) and data and not isinstance(data[0], dict)
    ):
        parts = data
    else:
        parts = [data]
    for part in parts:
        if isinstance(part, RowBatch):
            if len(part):
                yield part
            continue
        tbl = _to_table(part)
        if tbl.num_rows == 0:
            continue
        yield _row_batch(tbl, vector_column, id_column)


def check_unique_ids(ids: list[pa.Array], what: str) -> None:
    """Refuse an id given twice in one write (naming it), before anything is committed.

    Raises:
        InvalidInputError: Some id appears more than once.
    """
    if not ids:
        return
    counts = pc.value_counts(pa.chunked_array(ids).combine_chunks())
    dup = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    if len(dup):
        first = dup[0].as_py()
        raise InvalidInputError(
            f"id {first['values']!r} appears {first['counts']} times in one {what}"
            + (f" ({len(dup)} ids are repeated)" if len(dup) > 1 else "")
            + "; ids must be unique within a write")


class RowSource:
    """The rows of one write, readable again if its commit has to be rebuilt.

    Materialised data (tables, dicts, lists, data frames) is simply converted again; a one-shot
    stream (iterator, generator, ``RecordBatchReader``) is remembered as it is read, up to
    ``replay_bytes`` of vectors and payload. A stream longer than that cannot be replayed: a
    write that must be rebuilt then raises :class:`TableError` (nothing was written).

    Args:
        data: The user's rows (see :func:`iter_batches`).
        vector_column: Name of the vector.
        id_column: Name of the id.
        replay_bytes: Memory kept for replaying a stream.
    """

    def __init__(self, data: Any, *, vector_column: str, id_column: str,
                 replay_bytes: int = REPLAY_BYTES) -> None:
        if data is None:
            raise EmptyInputError("data is None")
        self._data = data
        self._cols = {"vector_column": vector_column, "id_column": id_column}
        self._stream = isinstance(data, (Iterator, pa.RecordBatchReader))
        self._it: Iterator[RowBatch] | None = None
        self._seen: list[RowBatch] | None = []
        self._seen_bytes = 0
        self._limit = replay_bytes
        self._passes = 0

    def batches(self) -> Iterator[RowBatch]:
        """Clean row batches, from the start (again on every call)."""
        self._passes += 1
        if not self._stream:
            yield from iter_batches(self._data, **self._cols)
            return
        if self._seen is None:
            raise TableError(
                "another writer committed while this write streamed its rows, and the stream"
                f" was longer than the {self._limit >> 20} MiB kept for a retry; nothing was"
                " written: write the rows again (or pass them as a table/list)")
        if self._it is None:
            self._it = iter_batches(self._data, **self._cols)
        pos = 0
        while True:
            if self._seen is not None and pos < len(self._seen):
                yield self._seen[pos]
                pos += 1
                continue
            rb = next(self._it, None)
            if rb is None:
                return
            if self._seen is not None:
                self._seen_bytes += rb.vectors.nbytes + rb.payload.nbytes + rb.ids.nbytes
                if self._seen_bytes > self._limit:
                    self._seen = None
                else:
                    self._seen.append(rb)
                    pos += 1
            yield rb
