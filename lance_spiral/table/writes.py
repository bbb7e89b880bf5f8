"""Writes of compressed tables: add, upsert, delete and update, each one conditional commit.

Each function here is *one attempt*: it opens the latest version ``V``, builds its change from
``V`` and commits it with ``read_version=V`` (:mod:`lance_spiral.table.commit`). If another
writer's commit makes that impossible it raises
:class:`~lance_spiral.table.commit.WriteConflictError`, and the caller
(:class:`~lance_spiral.table.table.CompressedTable`) runs it again from the new latest version
with :func:`~lance_spiral.table.commit.retrying`. Nothing is committed by an attempt that fails.

Small tables: while a table holds fewer than ``fit_rows`` rows its codes use a provisional codec
(:func:`lance_spiral.table.encode.provisional_codec`); the first fill, an add whose rows fall
outside the provisional ranges, and the add that brings the table to ``fit_rows`` rows
re-encode the whole table (:mod:`lance_spiral.table.rewrite`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lance import LanceDataset

from lance_spiral.errors import InvalidInputError, TableError
from lance_spiral.table.commit import Target, commit_append, lance_conflicts
from lance_spiral.table.encode import conform, encode_batch, outside_ranges
from lance_spiral.table.ingest import RowBatch, RowSource, check_unique_ids
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.rewrite import existing_rows, progress_bar, rewrite_table, write_encoded
from lance_spiral.table.sql import lance_error, sql_literal

__all__ = ["add_rows", "delete_rows", "update_rows", "upsert_rows"]


def _latest(target: Target) -> tuple[LanceDataset, TableMeta]:
    ds = target.open()
    return ds, TableMeta.from_schema(ds.schema, target.uri)


class _Tracked:
    """Counts the rows of an iterator of batches and keeps their ids (for the duplicate check)."""

    def __init__(self, batches: Iterator[RowBatch]) -> None:
        self._it = batches
        self.ids: list[pa.Array] = []
        self.rows = 0

    def __iter__(self) -> Iterator[RowBatch]:
        for rb in self._it:
            self.ids.append(rb.ids)
            self.rows += len(rb)
            yield rb

    def check(self, what: str) -> None:
        check_unique_ids(self.ids, what)


def add_rows(target: Target, source: RowSource, *, progress: bool = False
             ) -> tuple[LanceDataset, int]:
    """Append the rows of ``source`` to the latest version; returns ``(dataset, rows written)``.

    An empty table (or one whose rows were all deleted) is filled by a rewrite that fits the
    codec; a provisional table that reaches ``fit_rows`` rows is re-encoded with the target
    codec; otherwise the rows are encoded with the codec in use and appended. No rows: no commit.

    Raises:
        WriteConflictError: Another writer's commit since the version read (retry).
    """
    ds, meta = _latest(target)
    n_before = ds.count_rows()
    new = _Tracked(source.batches())
    batches: Iterator[RowBatch] = iter(new)
    if n_before == 0 or meta.provisional or meta.codec_file is None:
        head: list[RowBatch] = []
        n_head = 0
        for rb in batches:
            head.append(rb)
            n_head += len(rb)
            if n_before + n_head >= meta.fit_rows:
                break
        if not head:
            return ds, 0
        codec_file = meta.codec_file
        refit = n_before == 0 or codec_file is None or n_before + n_head >= meta.fit_rows
        if not refit and codec_file is not None:
            refit = outside_ranges(meta, target.side.get_codec(codec_file),
                                   np.concatenate([rb.vectors for rb in head]))
        if refit:
            rows = itertools.chain(existing_rows(ds, meta, target), head, batches)
            out = rewrite_table(target, ds, meta, rows, progress=progress,
                                before_commit=lambda: new.check("add"))
            return (ds if out is None else out), new.rows
        batches = iter(head)
    if meta.codec_file is None:
        raise TableError(f"table {target.uri} has rows but no codec file (corrupt metadata)")
    codec = target.side.get_codec(meta.codec_file)
    aux = target.side.get_arrays(meta.aux_file) if meta.aux_file else None
    bar = progress_bar(None, progress)

    def encoded() -> Iterator[pa.Table]:
        for rb in batches:
            if bar is not None:
                bar.update(len(rb))
            yield encode_batch(meta, codec, aux, rb)

    try:
        fragments = write_encoded(target, ds.schema, encoded(), append=True)
    finally:
        if bar is not None:
            bar.close()
    if new.rows == 0:
        return ds, 0
    new.check("add")
    return commit_append(target, fragments, int(ds.version)), new.rows


def upsert_rows(target: Target, source: RowSource) -> tuple[LanceDataset, dict[str, int]]:
    """Merge-insert on the id column; returns the dataset and ``{"inserted", "updated"}``.

    Raises:
        WriteConflictError: Another writer's commit since the version read (retry).
        InvalidInputError: An id given twice.
    """
    ds, meta = _latest(target)
    if ds.count_rows() == 0 or meta.provisional or meta.codec_file is None:
        return _upsert_small(target, ds, meta, source)
    codec = target.side.get_codec(meta.codec_file)
    aux = target.side.get_arrays(meta.aux_file) if meta.aux_file else None
    parts = [encode_batch(meta, codec, aux, rb) for rb in source.batches()]
    if not parts:
        return ds, {"inserted": 0, "updated": 0}
    check_unique_ids([p.column(meta.id_column).combine_chunks() for p in parts], "upsert")
    tbl = conform(pa.concat_tables(parts), ds.schema)
    res = lance_conflicts(lambda: ds.merge_insert(meta.id_column).when_matched_update_all()
                          .when_not_matched_insert_all().execute(tbl))
    return ds, {"inserted": int(res.get("num_inserted_rows", 0)),
                "updated": int(res.get("num_updated_rows", 0))}


def _upsert_small(target: Target, ds: LanceDataset, meta: TableMeta, source: RowSource
                  ) -> tuple[LanceDataset, dict[str, int]]:
    """Upsert on an empty or provisional (small) table: one conditional rewrite."""
    new = list(source.batches())
    if not new:
        return ds, {"inserted": 0, "updated": 0}
    check_unique_ids([rb.ids for rb in new], "upsert")
    new_ids = pa.chunked_array([rb.ids for rb in new]).combine_chunks()
    kept: list[RowBatch] = []
    matched = 0
    for rb in existing_rows(ds, meta, target):
        if rb.ids.type != new_ids.type:
            raise InvalidInputError(f"ids of type {new_ids.type} cannot match the table's"
                                    f" {rb.ids.type} ids")
        hit = pc.is_in(rb.ids, value_set=new_ids)
        matched += int(pc.sum(hit).as_py() or 0)
        idx = np.flatnonzero(~np.asarray(hit.to_numpy(zero_copy_only=False)))
        if len(idx):
            kept.append(RowBatch(ids=rb.ids.take(pa.array(idx)), vectors=rb.vectors[idx],
                                 payload=rb.payload.take(pa.array(idx))))
    out = rewrite_table(target, ds, meta, itertools.chain(kept, new))
    return (ds if out is None else out), {"inserted": len(new_ids) - matched,
                                          "updated": matched}


def _count(result: Any, key: str) -> int:
    """A count from a Lance result (a dict-like ``DeleteResult`` / ``UpdateResult``)."""
    value: Any = dict(result).get(key, 0)
    return int(value)


def delete_rows(target: Target, where: str) -> tuple[LanceDataset, int]:
    """Delete the rows of the latest version matching the SQL predicate ``where``.

    Returns:
        ``(dataset, rows deleted)``.
    """
    ds = target.open()
    try:
        res = lance_conflicts(lambda: ds.delete(where))
    except (ValueError, OSError) as exc:
        raise lance_error(exc, where) from exc
    return ds, _count(res, "num_deleted_rows")


def update_rows(target: Target, where: str | None, values: dict[str, Any]
                ) -> tuple[LanceDataset, int]:
    """Set payload columns to literal ``values`` on rows matching ``where`` (all if None)."""
    ds, meta = _latest(target)
    protected = {meta.id_column, meta.vector_column, *meta.internal_columns()}
    for col in values:
        if col in protected:
            raise InvalidInputError(f"column {col!r} cannot be updated (use upsert())")
        if col not in ds.schema.names:
            raise InvalidInputError(f"unknown column {col!r}; columns: {meta.payload}")
    updates = {c: sql_literal(v) for c, v in values.items()}
    try:
        res = lance_conflicts(lambda: ds.update(updates, where=where))
    except (ValueError, OSError) as exc:
        raise lance_error(exc, where) from exc
    return ds, _count(res, "num_rows_updated")

