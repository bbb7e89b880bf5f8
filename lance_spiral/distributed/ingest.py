"""Distributed ingest on Ray: workers embed, encode and write Lance fragments; one commit lands.

The driver reads a sample (the first rows, at most the single-process fit sample), fits the
codec once exactly as :func:`lance_spiral.table.create_table` does, stores it with the table's
side files and builds the output schema. Ray workers run a
:class:`~lance_spiral.distributed.encoder.BatchEncoder` as the transform of lance-ray's
``LanceFragmentWriter`` (each batch: embed, validate, encode, write a fragment); lance-ray's
``LanceFragmentCommitter`` then commits every fragment in one Lance transaction (``Overwrite``
for a new table, ``Append`` conditional on the version read for an existing one). A failed or
killed job commits nothing: the table has no new version, and the orphan fragment files it wrote
are referenced by no manifest.
"""

from __future__ import annotations

from typing import Any

import lance
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._optional import require
from lance_spiral._validation import check_int, check_metric
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import parse_spec
from lance_spiral.distributed.encoder import BatchEncoder, embed_column, resolve_embedder
from lance_spiral.distributed.ids import check_unique_ids
from lance_spiral.distributed.remote import spiral_cause
from lance_spiral.distributed.sources import read_source
from lance_spiral.errors import (
    InvalidInputError,
    InvalidParameterError,
    TableError,
)
from lance_spiral.table import MODES, CompressedTable, TableMeta, open_table
from lance_spiral.table.encode import FIT_SAMPLE, encode_batch, fit_table, table_schema
from lance_spiral.table.ingest import iter_batches

__all__ = ["ingest"]

def _plan(side: SideStore, meta: TableMeta, head: pa.Table
          ) -> tuple[TableMeta, bytes, dict[str, npt.NDArray[Any]] | None, pa.Schema]:
    """Fit the codec on the driver's sample as a single-process create does; the schema."""
    rb = next(iter_batches(head, vector_column=meta.vector_column, id_column=meta.id_column))
    meta, codec, aux = fit_table(meta, side, [rb])
    schema = table_schema(meta, encode_batch(meta, codec, aux, rb))
    return meta, codec.to_bytes(), aux, schema


def _existing(uri: str, storage_options: dict[str, str] | None) -> lance.LanceDataset | None:
    try:
        return lance.dataset(uri, storage_options=storage_options)
    except (ValueError, OSError):
        return None


def _failure(exc: Exception, uri: str) -> Exception:
    """The library error for a failed Ray job (the library's own cause when there is one)."""
    cause = spiral_cause(exc)
    if cause is not None:
        return type(cause)(f"{cause} (distributed ingest into {uri}: nothing committed)")
    return TableError(f"distributed ingest into {uri} failed; nothing was committed: "
                      f"{type(exc).__name__}: {str(exc)[:500]}")


def _check_ids(rds: Any, id_column: str, uri: str, storage_options: dict[str, str] | None,
               workers: int, *, append: bool) -> None:
    """Refuse repeated ids before anything is written.

    A source without the id column is left to the encoder's row checks, which name what is
    missing.
    """
    try:
        if id_column not in rds.schema().names:
            return
        check_unique_ids(rds, id_column, existing_uri=uri if append else None,
                         storage_options=storage_options, partitions=workers)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise _failure(exc, uri) from exc


def ingest(
    source: Any,
    uri: str,
    *,
    codec: str = "sq:bits=8",
    mode: str = "compressed",
    embed: Any = None,
    text_column: str = "text",
    num_workers: int = 2,
    storage_options: dict[str, str] | None = None,
    vector_column: str = "vector",
    id_column: str = "id",
    metric: str = "cosine",
    nlist: int = 0,
    batch_size: int = 65536,
) -> CompressedTable:
    """Ingest rows into a compressed table with Ray workers; one Lance commit.

    Uses the running Ray cluster (``ray.init()`` first to choose one; Ray starts a local one
    otherwise). A new table is created; an existing compressed table is appended to with its
    own codec (the commit conditional on the version read).

    Args:
        source: A Ray Dataset, or Parquet / JSON-lines path(s), with ``id_column`` and
            ``vector_column`` (or ``text_column`` when ``embed`` is set) plus any payload.
        uri: Table URI (path or ``s3://...``).
        codec: Codec spec fitted once on the driver's sample.
        mode: ``compressed`` or ``alongside``.
        embed: ``None`` (vectors given), ``"default"`` (the shipped approximator) or an
            embedder object (``embed(list[str])``; shipped to the workers by Ray).
        text_column: Column embedded when ``embed`` is set (kept as payload).
        num_workers: Concurrent Ray tasks encoding and writing.
        storage_options: Lance storage options for object stores.
        vector_column: Name of the vector column.
        id_column: Name of the id column.
        metric: ``cosine``, ``ip`` or ``l2``.
        nlist: IVF partitions (compressed mode).
        batch_size: Rows per worker batch (each batch becomes at least one fragment).

    Returns:
        The table, opened at the new version.

    Raises:
        MissingDependencyError: Ray / lance-ray not installed (``[distributed]`` extra).
        InvalidParameterError: Bad options.
        InvalidInputError: Bad rows (missing columns, null ids, NaN vectors...), or an id
            repeated in the source or already in the table (checked before anything is
            written, as ``add`` does).
        TableError: The job failed; nothing was committed.
    """
    require("ray", "distributed")
    lance_ray = require("lance_ray", "distributed")
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterError(f"uri must be a non-empty string, got {uri!r}")
    if mode not in MODES:
        raise InvalidParameterError(f"mode must be one of {MODES}, got {mode!r}")
    parse_spec(codec)
    metric = check_metric(metric)
    check_int(num_workers, "num_workers", lo=1)
    check_int(nlist, "nlist", lo=0)
    check_int(batch_size, "batch_size", lo=1)
    embedder = resolve_embedder(embed)
    src = read_source(source)
    rds = src.dataset
    side = SideStore(uri, storage_options=storage_options)
    ds = _existing(uri, storage_options)
    if ds is not None:
        table = open_table(uri, storage_options=storage_options)
        meta = table.meta
        if meta.provisional or meta.codec_file is None:
            raise TableError(f"table {uri} has fewer than fit_rows rows: add() to it instead")
        codec_bytes = side.get_codec(meta.codec_file).to_bytes()
        aux = side.get_arrays(meta.aux_file) if meta.aux_file else None
        schema, write_mode = ds.schema, "append"
        _check_ids(rds, meta.id_column, uri, storage_options, num_workers, append=True)
    else:
        _check_ids(rds, id_column, uri, storage_options, num_workers, append=False)
        meta = TableMeta(mode=mode, metric=metric, codec_spec=codec, vector_column=vector_column,
                         id_column=id_column, nlist=nlist)
        head = src.head(FIT_SAMPLE)
        if head.num_rows == 0:
            raise InvalidInputError("source has no rows")
        if embedder is not None:
            head = embed_column(head, embedder, text_column, vector_column)
        meta, codec_bytes, aux, schema = _plan(side, meta, head)
        write_mode = "create"
    encoder = BatchEncoder(meta, codec_bytes, aux, schema, embed=embed, text_column=text_column)
    writer = lance_ray.LanceFragmentWriter(uri, transform=encoder, schema=schema,
                                           use_legacy_format=None,
                                           storage_options=storage_options)
    committer = lance_ray.LanceFragmentCommitter(uri, schema=schema, mode=write_mode,
                                                 storage_options=storage_options)
    try:
        ray_data = require("ray.data", "distributed")
        blocks = rds.repartition(target_num_rows_per_block=batch_size)
        frags = blocks.map_batches(writer, batch_size=batch_size, batch_format="pyarrow",
                                   compute=ray_data.TaskPoolStrategy(size=num_workers))
        frags.write_datasink(committer)
    except Exception as exc:
        raise _failure(exc, uri) from exc
    if _existing(uri, storage_options) is None:
        raise TableError(f"distributed ingest into {uri} committed nothing (no rows written)")
    return open_table(uri, storage_options=storage_options)

