"""Writes of compressed tables: append, upsert, delete and update, each one Lance commit.

Functions here take the parts of a table version (URI, dataset, metadata, side files) and return
the dataset after their commit; :class:`~lance_spiral.table.table.CompressedTable` wraps them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lance_spiral.arrow import codes_of
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import Codec, make_codec
from lance_spiral.errors import DimensionError, InvalidInputError, TableError
from lance_spiral.table.encode import conform, encode_batch, fit_aux, provisional_codec
from lance_spiral.table.ingest import RowBatch, iter_batches, vectors_from_arrow
from lance_spiral.table.meta import META_KEY, TableMeta
from lance_spiral.table.snapshot import list_indices
from lance_spiral.table.sql import lance_error, sql_literal

__all__ = [
    "add_rows",
    "delete_rows",
    "existing_rows",
    "update_rows",
    "upsert_rows",
    "write_rows",
]

FIT_SAMPLE = 65536

_SCALAR_KINDS = ("BTREE", "BITMAP", "LABEL_LIST", "INVERTED")


def existing_rows(ds: lance.LanceDataset, meta: TableMeta, side: SideStore
                  ) -> Iterator[RowBatch]:
    """Every row of ``ds`` as clean batches (vectors decoded, or read from the float column)."""
    if ds.count_rows() == 0 or meta.codec_file is None:
        return
    cols = [meta.id_column, *meta.payload]
    src = meta.vector_column if meta.mode == "alongside" else meta.codes_column
    for batch in ds.to_batches(columns=[*cols, src], batch_size=65536):
        tbl = pa.Table.from_batches([batch])
        if meta.mode == "alongside":
            vecs = vectors_from_arrow(tbl.column(src), src)
        else:
            vecs = side.get_codec(meta.codec_file).decode(codes_of(tbl.column(src)))
        yield RowBatch(ids=tbl.column(meta.id_column).combine_chunks(), vectors=vecs,
                       payload=tbl.select(meta.payload))


def _scalar_indices(ds: lance.LanceDataset) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for idx in list_indices(ds):
        kind = str(idx.get("type", "")).upper()
        if kind in _SCALAR_KINDS:
            out.extend((f, kind) for f in idx.get("fields", []))
    return out


def _rewrite(uri: str, ds: lance.LanceDataset, meta: TableMeta, side: SideStore,
             batches: Iterator[RowBatch], *, progress: bool) -> lance.LanceDataset:
    """Re-encode every row (a codec fit) in one ``overwrite`` commit; scalar indexes rebuilt."""
    old = _scalar_indices(ds)
    new, _ = write_rows(uri, meta, side, batches, mode="overwrite", progress=progress)
    if new is None:
        return ds
    for col, kind in old:
        if col in new.schema.names:
            new.create_scalar_index(col, index_type=kind, replace=True)  # type: ignore[arg-type]
    return lance.dataset(uri) if old else new


def add_rows(uri: str, ds: lance.LanceDataset, meta: TableMeta, side: SideStore, data: Any,
             *, progress: bool = False) -> lance.LanceDataset:
    """Append rows; the first rows (or the ``fit_rows``-th) fit the codec and re-encode all."""
    batches = iter_batches(data, vector_column=meta.vector_column, id_column=meta.id_column)
    n_before = ds.count_rows()
    if n_before == 0 or meta.provisional:
        head: list[RowBatch] = []
        n_head = 0
        for rb in batches:
            head.append(rb)
            n_head += len(rb)
            if n_before + n_head >= meta.fit_rows:
                break
        if not head:
            return ds
        if n_before == 0 or n_before + n_head >= meta.fit_rows:
            chain = itertools.chain(existing_rows(ds, meta, side), head, batches)
            return _rewrite(uri, ds, meta, side, chain, progress=progress)
        batches = iter(head)
    if meta.codec_file is None:
        raise TableError(f"table {uri} has no codec yet (empty table)")
    codec = side.get_codec(meta.codec_file)
    aux = side.get_arrays(meta.aux_file) if meta.aux_file else None
    new, _ = write_rows(uri, meta, side, batches, mode="append", state=(codec, aux),
                        schema=ds.schema, progress=progress)
    return ds if new is None else new


def upsert_rows(uri: str, ds: lance.LanceDataset, meta: TableMeta, side: SideStore, data: Any
                ) -> tuple[lance.LanceDataset, dict[str, int]]:
    """Merge-insert on the id column; returns the dataset and ``{"inserted", "updated"}``."""
    if ds.count_rows() == 0 or meta.provisional:
        return _upsert_small(uri, ds, meta, side, data)
    codec = side.get_codec(meta.codec_file or "")
    aux = side.get_arrays(meta.aux_file) if meta.aux_file else None
    parts = [conform(encode_batch(meta, codec, aux, rb), ds.schema)
             for rb in iter_batches(data, vector_column=meta.vector_column,
                                    id_column=meta.id_column)]
    if not parts:
        return ds, {"inserted": 0, "updated": 0}
    tbl = pa.concat_tables(parts)
    res = (ds.merge_insert(meta.id_column).when_matched_update_all()
           .when_not_matched_insert_all().execute(tbl))
    return lance.dataset(uri), {"inserted": int(res.get("num_inserted_rows", 0)),
                                "updated": int(res.get("num_updated_rows", 0))}


def _upsert_small(uri: str, ds: lance.LanceDataset, meta: TableMeta, side: SideStore, data: Any
                  ) -> tuple[lance.LanceDataset, dict[str, int]]:
    """Upsert on an empty or provisional (small) table: one ``overwrite`` commit."""
    new = list(iter_batches(data, vector_column=meta.vector_column, id_column=meta.id_column))
    if not new:
        return ds, {"inserted": 0, "updated": 0}
    new_ids = pa.chunked_array([rb.ids for rb in new]).combine_chunks()
    kept: list[RowBatch] = []
    matched = 0
    for rb in existing_rows(ds, meta, side):
        hit = pc.is_in(rb.ids, value_set=new_ids.cast(rb.ids.type))
        matched += int(pc.sum(hit).as_py() or 0)
        keep = pc.invert(hit)
        idx = np.flatnonzero(np.asarray(keep.to_numpy(zero_copy_only=False)))
        if len(idx):
            kept.append(RowBatch(ids=rb.ids.take(pa.array(idx)), vectors=rb.vectors[idx],
                                 payload=rb.payload.take(pa.array(idx))))
    out = _rewrite(uri, ds, meta, side, itertools.chain(kept, new), progress=False)
    return out, {"inserted": len(new_ids) - matched, "updated": matched}


def delete_rows(uri: str, ds: lance.LanceDataset, where: str) -> lance.LanceDataset:
    """Delete the rows matching the SQL filter ``where``."""
    try:
        ds.delete(where)
    except (ValueError, OSError) as exc:
        raise lance_error(exc, where) from exc
    return lance.dataset(uri)


def update_rows(uri: str, ds: lance.LanceDataset, meta: TableMeta, where: str | None,
                values: dict[str, Any]) -> tuple[lance.LanceDataset, int]:
    """Set payload columns to literal ``values`` on rows matching ``where`` (all if None)."""
    protected = {meta.id_column, meta.vector_column, *meta.internal_columns()}
    for col in values:
        if col in protected:
            raise InvalidInputError(f"column {col!r} cannot be updated (use upsert())")
        if col not in ds.schema.names:
            raise InvalidInputError(f"unknown column {col!r}; columns: {meta.payload}")
    updates = {c: sql_literal(v) for c, v in values.items()}
    try:
        res = ds.update(updates, where=where)
    except (ValueError, OSError) as exc:
        raise lance_error(exc, where) from exc
    return lance.dataset(uri), int(res.get("num_rows_updated", 0)) if isinstance(res, dict) else 0


def _progress(total: int | None, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", desc="encoding", leave=False)


def _guarded(gen: Iterator[pa.RecordBatch], box: list[BaseException]
             ) -> Iterator[pa.RecordBatch]:
    try:
        yield from gen
    except BaseException as exc:
        box.append(exc)
        raise


def _write(reader: pa.RecordBatchReader, uri: str, mode: str, box: list[BaseException]
           ) -> lance.LanceDataset:
    try:
        return lance.write_dataset(reader, uri, mode=mode)
    except Exception as exc:
        if box:
            raise box[0] from None
        raise TableError(f"writing to {uri} failed: {exc}") from exc


def write_rows(
    uri: str,
    meta: TableMeta,
    side: SideStore,
    batches: Iterator[RowBatch],
    *,
    mode: str,
    state: tuple[Codec, dict[str, npt.NDArray[Any]] | None] | None = None,
    schema: pa.Schema | None = None,
    progress: bool = False,
    total: int | None = None,
) -> tuple[lance.LanceDataset | None, TableMeta]:
    """Encode ``batches`` and commit them to ``uri`` in one Lance commit.

    Args:
        uri: Dataset URI.
        meta: Table metadata (a copy is updated and returned).
        side: Side-file store of the table.
        batches: Clean row batches.
        mode: ``"create"`` / ``"overwrite"`` (fit codecs on the data) or ``"append"``.
        state: For ``append``: the codec and aux arrays in use.
        schema: For ``append``: the dataset schema to conform to.
        progress: Show a progress bar.
        total: Expected row count (for the bar).

    Returns:
        ``(dataset, meta)``; dataset is ``None`` when there were no rows to write.
    """
    meta = TableMeta(**{**meta.__dict__, "payload": list(meta.payload)})
    bar = _progress(total, progress)
    box: list[BaseException] = []
    try:
        if mode == "append":
            if state is None or schema is None:
                raise TableError("append needs the current codec and schema")
            codec, aux = state

            def gen_append() -> Iterator[pa.RecordBatch]:
                for rb in batches:
                    tbl = conform(encode_batch(meta, codec, aux, rb), schema)
                    if bar is not None:
                        bar.update(len(rb))
                    yield from tbl.to_batches()

            reader = pa.RecordBatchReader.from_batches(schema, _guarded(gen_append(), box))
            return _write(reader, uri, "append", box), meta

        buffered: list[RowBatch] = []
        n_buf = 0
        it = iter(batches)
        for rb in it:
            buffered.append(rb)
            n_buf += len(rb)
            if n_buf >= max(meta.fit_rows, FIT_SAMPLE):
                break
        if not buffered:
            return None, meta
        dims = {rb.vectors.shape[1] for rb in buffered}
        if meta.dim is not None:
            dims.add(meta.dim)
        if len(dims) > 1:
            raise DimensionError(f"vectors have different dimensions {sorted(dims)}")
        sample = np.concatenate([rb.vectors for rb in buffered])
        if len(sample) > FIT_SAMPLE:
            pick = np.random.default_rng(0).choice(len(sample), FIT_SAMPLE, replace=False)
            sample = sample[pick]
        provisional = n_buf < meta.fit_rows
        codec = (provisional_codec(meta, sample) if provisional
                 else make_codec(meta.codec_spec, metric=meta.metric).fit(sample))
        meta.dim = int(sample.shape[1])
        meta.provisional = provisional
        meta.codec_file = side.put_codec(codec)
        meta.id_type = "int64" if pa.types.is_integer(buffered[0].ids.type) else "string"
        meta.payload = list(buffered[0].payload.column_names)
        aux = fit_aux(meta, sample, provisional=provisional) if meta.mode == "compressed" else None
        meta.aux_file = side.put_arrays(aux) if aux is not None else None
        head = encode_batch(meta, codec, aux, buffered[0])
        out_schema = head.schema.with_metadata({META_KEY: meta.to_json()})

        def gen() -> Iterator[pa.RecordBatch]:
            for i, rb in enumerate(itertools.chain(buffered, it)):
                tbl = head if i == 0 else encode_batch(meta, codec, aux, rb)
                if bar is not None:
                    bar.update(len(rb))
                yield from conform(tbl, out_schema).to_batches()

        reader = pa.RecordBatchReader.from_batches(out_schema, _guarded(gen(), box))
        return _write(reader, uri, mode, box), meta
    finally:
        if bar is not None:
            bar.close()
