"""Create a compressed table (one Lance commit), optionally with its first rows."""

from __future__ import annotations

from typing import Any

import lance
import pyarrow as pa

from lance_spiral._validation import check_int, check_metric
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import parse_spec
from lance_spiral.errors import InvalidParameterError, TableError
from lance_spiral.table.ingest import iter_batches
from lance_spiral.table.meta import META_KEY, TableMeta
from lance_spiral.table.table import MODES, CompressedTable, open_table
from lance_spiral.table.writes import write_rows

__all__ = ["create_table"]


def _exists(uri: str) -> bool:
    try:
        lance.dataset(uri)
    except (ValueError, OSError, FileNotFoundError):
        return False
    return True


def create_table(
    uri: str,
    data: Any = None,
    *,
    dim: int | None = None,
    vector_column: str = "vector",
    id_column: str = "id",
    codec: str = "sq:bits=8",
    mode: str = "compressed",
    metric: str = "cosine",
    exist_ok: bool = False,
    progress: bool = True,
    fit_rows: int = 1000,
    nlist: int = 0,
) -> CompressedTable:
    """Create a compressed table at ``uri`` (one Lance commit), optionally with rows.

    Args:
        uri: Dataset path or URI (``/path/docs.lance``, ``s3://bucket/docs.lance``).
        data: Rows: Arrow table/batch, pandas DataFrame, list of dicts, dict of columns, or an
            iterable of those. Each row has ``id_column``, ``vector_column`` and any payload.
        dim: Vector width, when known before the first rows.
        vector_column: Name of the vector in the data.
        id_column: Name of the id column (strings or integers).
        codec: Target codec spec (``"sq:bits=8"``, ``"sq:bits=4"``, ``"pq:m=48"``...).
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept too).
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        exist_ok: Return the existing table instead of raising when ``uri`` exists.
        progress: Show a progress bar while encoding.
        fit_rows: Rows needed before the target codec is fitted (small-table policy).
        nlist: IVF partitions for compressed mode (0: full scan of the 1-bit codes, best below
            about 500k rows).

    Returns:
        The table.

    Raises:
        TableError: ``uri`` exists and ``exist_ok`` is false.
        InvalidParameterError: Bad mode, metric, codec spec, dim, fit_rows or nlist.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterError(f"uri must be a non-empty string, got {uri!r}")
    if mode not in MODES:
        raise InvalidParameterError(f"mode must be one of {MODES}, got {mode!r}")
    metric = check_metric(metric)
    parse_spec(codec)
    if dim is not None:
        check_int(dim, "dim", lo=1)
    check_int(fit_rows, "fit_rows", lo=1)
    check_int(nlist, "nlist", lo=0)
    for name, val in (("vector_column", vector_column), ("id_column", id_column)):
        if not isinstance(val, str) or not val or val.startswith("_"):
            raise InvalidParameterError(f"{name} must be a non-empty name not starting with '_'")
    if _exists(uri):
        if exist_ok:
            return open_table(uri)
        raise TableError(f"a table already exists at {uri} (pass exist_ok=True to open it)")
    meta = TableMeta(mode=mode, metric=metric, dim=dim, codec_spec=codec, fit_rows=fit_rows,
                     vector_column=vector_column, id_column=id_column, nlist=nlist)
    side = SideStore(uri)
    ds = None
    if data is not None:
        batches = iter_batches(data, vector_column=vector_column, id_column=id_column)
        ds, meta = write_rows(uri, meta, side, batches, mode="create", progress=progress)
    if ds is None:
        empty = pa.table({id_column: pa.array([], pa.string())})
        ds = lance.write_dataset(empty.replace_schema_metadata({META_KEY: meta.to_json()}), uri)
    return CompressedTable(uri, ds)
