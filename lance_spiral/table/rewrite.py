"""Whole-table rewrites: the first fill, the small-table refit and requantize, one commit each.

A rewrite re-encodes every row of version ``V`` (decoded from its codes, or read from the float
column in ``alongside`` mode) plus any new rows with a codec fitted here, writes new data files,
and commits them as an ``Overwrite`` that succeeds only as version ``V + 1`` (see
:mod:`lance_spiral.table.commit`): a row another writer committed meanwhile is never replaced,
the rewrite is rebuilt instead. Readers see version ``V`` or ``V + 1``, never a mix of codecs.
Scalar indexes of ``V`` are rebuilt on the new version.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from lance import LanceDataset

from lance_spiral.arrow import codes_of
from lance_spiral.codecs import Codec
from lance_spiral.table.commit import (
    Target,
    commit_overwrite,
    lance_conflicts,
    retrying,
    write_fragment_files,
)
from lance_spiral.table.encode import FIT_SAMPLE, conform, encode_batch, fit_table, table_schema
from lance_spiral.table.ingest import RowBatch, vectors_from_arrow
from lance_spiral.table.integrity import guarded_read
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.snapshot import list_indices

__all__ = ["existing_rows", "progress_bar", "rewrite_table"]

_SCALAR_KINDS = ("BTREE", "BITMAP", "LABEL_LIST", "INVERTED", "NGRAM", "ZONEMAP")


def existing_rows(ds: LanceDataset, meta: TableMeta, target: Target) -> Iterator[RowBatch]:
    """Every row of ``ds`` as clean batches (vectors decoded, or read from the float column)."""
    if meta.codec_file is None or ds.count_rows() == 0:
        return
    cols = [meta.id_column, *meta.payload]
    src = meta.vector_column if meta.mode == "alongside" else meta.codes_column
    codec = None if meta.mode == "alongside" else target.side.get_codec(meta.codec_file)
    batches = guarded_read(ds, "reading the rows to re-encode", lambda: iter(
        ds.to_batches(columns=[*cols, src], batch_size=65536)), target.storage_options)
    while True:
        batch = guarded_read(ds, "reading the rows to re-encode", lambda: next(batches, None),
                             target.storage_options)
        if batch is None:
            return
        tbl = pa.Table.from_batches([batch])
        if codec is None:
            vecs = vectors_from_arrow(tbl.column(src), src)
        else:
            vecs = codec.decode(codes_of(tbl.column(src)))
        yield RowBatch(ids=tbl.column(meta.id_column).combine_chunks(), vectors=vecs,
                       payload=tbl.select(meta.payload))


def _scalar_indices(ds: LanceDataset | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if ds is None:
        return out
    for idx in list_indices(ds):
        kind = str(idx.get("type", "")).upper()
        if kind in _SCALAR_KINDS:
            out.extend((f, kind) for f in idx.get("fields", []))
    return out


def progress_bar(total: int | None, enabled: bool) -> Any:
    """A tqdm bar over rows (``None`` when disabled)."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", desc="encoding", leave=False)


def _guarded(gen: Iterator[pa.RecordBatch], box: list[BaseException]
             ) -> Iterator[pa.RecordBatch]:
    """Remember an exception raised while Lance pulls batches (Lance re-raises it wrapped)."""
    try:
        yield from gen
    except BaseException as exc:
        box.append(exc)
        raise


def _index(ds: LanceDataset, column: str, kind: str) -> None:
    lance_conflicts(lambda: ds.create_scalar_index(column, index_type=kind,  # type: ignore[arg-type]
                                                   replace=True))


def write_encoded(target: Target, schema: pa.Schema, batches: Iterator[pa.Table], *,
                  append: bool) -> list[Any]:
    """Write encoded tables as uncommitted Lance data files; errors in ``batches`` re-raised."""
    box: list[BaseException] = []

    def gen() -> Iterator[pa.RecordBatch]:
        for tbl in batches:
            yield from conform(tbl, schema).to_batches()

    reader = pa.RecordBatchReader.from_batches(schema, _guarded(gen(), box))
    try:
        return write_fragment_files(reader, target, schema, append=append)
    except Exception:
        if box:
            raise box[0] from None
        raise


def rewrite_table(
    target: Target,
    ds: LanceDataset | None,
    meta: TableMeta,
    batches: Iterator[RowBatch],
    *,
    codec: Codec | None = None,
    before_commit: Callable[[], None] | None = None,
    progress: bool = False,
) -> LanceDataset | None:
    """Encode ``batches`` (the whole table's rows) and commit them as version ``V + 1``.

    Args:
        target: The table's location.
        ds: Version ``V`` the rows were read from (``None``: the table is being created).
        meta: Its metadata (codec spec, mode, metric, fit_rows...).
        batches: Every row the new version holds.
        codec: A fitted codec to use (requantize); ``None`` fits one (a provisional one when
            the rows are fewer than ``fit_rows``).
        before_commit: Called once all rows are written, before the commit (input checks that
            need every row, e.g. duplicate ids).
        progress: Show a progress bar.

    Returns:
        The new dataset version, or ``None`` when there were no rows.

    Raises:
        WriteConflictError: Another writer committed since ``V`` (nothing was committed).
    """
    it = iter(batches)
    buffered: list[RowBatch] = []
    n_buf = 0
    for rb in it:
        buffered.append(rb)
        n_buf += len(rb)
        if n_buf >= max(meta.fit_rows, FIT_SAMPLE):
            break
    if not buffered:
        return None
    new_meta, fitted, aux = fit_table(meta, target.side, buffered, codec=codec)
    head = encode_batch(new_meta, fitted, aux, buffered[0])
    schema = table_schema(new_meta, head)
    bar = progress_bar(None, progress)

    def encoded() -> Iterator[pa.Table]:
        for i, rb in enumerate(itertools.chain(buffered, it)):
            if bar is not None:
                bar.update(len(rb))
            yield head if i == 0 else encode_batch(new_meta, fitted, aux, rb)

    try:
        fragments = write_encoded(target, schema, encoded(), append=False)
    finally:
        if bar is not None:
            bar.close()
    if before_commit is not None:
        before_commit()
    new = commit_overwrite(target, schema, fragments, None if ds is None else int(ds.version))
    indexed = [(c, k) for c, k in _scalar_indices(ds) if c in new.schema.names]
    if not indexed:
        return new

    def reindex() -> LanceDataset:
        latest = target.open()
        for col, kind in indexed:
            _index(latest, col, kind)
        return latest

    return retrying(reindex, what=f"rebuilding scalar indexes of {target.uri}")
