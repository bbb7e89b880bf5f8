"""Create a compressed table (one Lance commit), optionally with its first rows.

Creation is a conditional commit of version 1: when several processes create the same table at
once, exactly one commit lands; with ``exist_ok=True`` the others open that table (and add their
rows to it, so no process's rows are dropped), without it they get :class:`TableError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from lance_spiral._validation import check_int, check_metric
from lance_spiral.codecs import parse_spec
from lance_spiral.errors import InvalidParameterError, TableError
from lance_spiral.table.commit import Target, WriteConflictError, commit_overwrite
from lance_spiral.table.encode import PK_KEY
from lance_spiral.table.ingest import RowBatch, RowSource, check_unique_ids
from lance_spiral.table.meta import META_KEY, TableMeta
from lance_spiral.table.rewrite import rewrite_table
from lance_spiral.table.table import MODES, CompressedTable, open_table

__all__ = ["create_table"]


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
    storage_options: dict[str, str] | None = None,
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
        exist_ok: When a table exists at ``uri`` (or another process creates it first), open
            it instead of raising; ``data`` is then added to it. The table keeps its own
            settings (codec, metric, mode...).
        progress: Show a progress bar while encoding.
        fit_rows: Rows needed before the target codec is fitted (small-table policy).
        nlist: IVF partitions for compressed mode (0: full scan of the 1-bit codes, best below
            about 500k rows).
        storage_options: Lance object-store options for ``s3://`` and the like
            (``aws_endpoint``, ``allow_http``, ``aws_region``, ``aws_access_key_id``,
            ``aws_secret_access_key``...); never stored in the table, never shown in messages.

    Returns:
        The table.

    Raises:
        TableError: ``uri`` exists and ``exist_ok`` is false.
        InvalidParameterError: Bad mode, metric, codec spec, dim, fit_rows or nlist.
        InvalidInputError, DimensionError, DTypeError, NonFiniteError: Bad rows (nothing is
            created).
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
        if not isinstance(val, str) or not val or val.startswith("_") or "`" in val:
            raise InvalidParameterError(
                f"{name} must be a non-empty name not starting with '_' (no backticks)")
    target = Target(uri, storage_options)
    source = None if data is None else RowSource(data, vector_column=vector_column,
                                                  id_column=id_column)

    def existing() -> CompressedTable:
        if not exist_ok:
            raise TableError(f"a table already exists at {uri} (pass exist_ok=True to open it)")
        table = open_table(uri, storage_options=storage_options)
        if source is not None:
            table.add(source, progress=progress)
        return table

    if target.exists():
        return existing()
    meta = TableMeta(mode=mode, metric=metric, dim=dim, codec_spec=codec, fit_rows=fit_rows,
                     vector_column=vector_column, id_column=id_column, nlist=nlist)
    try:
        ds = None
        if source is not None:
            ids: list[pa.Array] = []

            def rows() -> Iterator[RowBatch]:
                for rb in source.batches():
                    ids.append(rb.ids)
                    yield rb

            ds = rewrite_table(target, None, meta, rows(), progress=progress,
                               before_commit=lambda: check_unique_ids(ids, "create_table"))
        if ds is None:
            field = pa.field(id_column, pa.string(), nullable=False, metadata={PK_KEY: "true"})
            schema = pa.schema([field], metadata={META_KEY: meta.to_json()})
            ds = commit_overwrite(target, schema, [], None)
    except WriteConflictError:
        return existing()
    return CompressedTable(uri, ds, storage_options=storage_options)
