"""Switch a live table's codec: one conditional rewrite with a codec fitted on its own rows.

The vectors are read back from version ``V`` (decoded from the codes, or from the float column
in ``alongside`` mode), a new codec is fitted on a sample of them -- the one given, or the
fewest-bytes codec meeting a recall target (:func:`lance_spiral.codecs.choose_codec`, measured
on held-out rows of the sample) -- and every row is re-encoded into version ``V + 1`` by
:func:`lance_spiral.table.rewrite.rewrite_table`: readers see the old codes or the new ones,
never a mix, and a write committed meanwhile makes the attempt start over from it.

Decoded vectors carry the old codec's error into the new codes (a lossy codec's error adds up);
``alongside`` tables re-encode their stored floats exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from lance import LanceDataset

from lance_spiral.arrow import codes_of
from lance_spiral.codecs import Codec, choose_codec, make_codec
from lance_spiral.errors import InvalidInputError, InvalidParameterError, TableError
from lance_spiral.table.commit import Target, commit_overwrite
from lance_spiral.table.encode import FIT_SAMPLE
from lance_spiral.table.ingest import vectors_from_arrow
from lance_spiral.table.integrity import guarded_read
from lance_spiral.table.meta import META_KEY, TableMeta
from lance_spiral.table.rewrite import existing_rows, rewrite_table
from lance_spiral.table.snapshot import list_indices

__all__ = ["MIN_TUNE_ROWS", "check_request", "requantize_table"]

MIN_TUNE_ROWS = 300


def check_request(codec: Any, target_recall: Any, sample: Any, metric: str) -> None:
    """Validate :meth:`CompressedTable.requantize`'s arguments before any work.

    Raises:
        InvalidInputError: Neither or both of ``codec`` and ``target_recall``.
        InvalidParameterError: Bad spec, target or sample size.
        UnknownCodecError: Unknown codec name.
    """
    if (codec is None) == (target_recall is None):
        raise InvalidInputError("requantize() needs exactly one of codec= or target_recall=")
    if codec is not None:
        if not isinstance(codec, str):
            raise InvalidParameterError(f"codec must be a spec string, got {codec!r}")
        make_codec(codec, metric=metric)
    elif isinstance(target_recall, bool) or not isinstance(target_recall, (int, float)) or not (
            0.0 < float(target_recall) <= 1.0):
        raise InvalidParameterError(f"target_recall must be in (0, 1], got {target_recall!r}")
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise InvalidParameterError(f"sample must be a positive integer, got {sample!r}")


def _sample(ds: LanceDataset, meta: TableMeta, target: Target, n: int
            ) -> npt.NDArray[np.float32]:
    """Up to ``n`` of the table's vectors, spread over the table (seeded)."""
    rows = ds.count_rows()
    pick = np.sort(np.random.default_rng(0).choice(rows, min(n, rows), replace=False))
    src = meta.vector_column if meta.mode == "alongside" else meta.codes_column
    tbl = guarded_read(ds, "requantize: reading a sample",
                       lambda: ds.take(pick, columns=[src]), target.storage_options)
    if meta.mode == "alongside":
        return vectors_from_arrow(tbl.column(src), src)
    if meta.codec_file is None:
        raise TableError(f"table {target.uri} has rows but no codec file (corrupt metadata)")
    return target.side.get_codec(meta.codec_file).decode(codes_of(tbl.column(src)))


def _fit(spec: str | None, target_recall: float | None, x: npt.NDArray[np.float32],
         metric: str) -> tuple[Codec, dict[str, Any]]:
    """The new codec and what was measured choosing it."""
    if target_recall is not None:
        res = choose_codec(x, float(target_recall), metric=metric)
        return res.codec, {"target_recall": float(target_recall), "met": res.met,
                           "recall": res.recall, "candidates": res.table}
    if spec is None:
        raise InvalidInputError("requantize() needs exactly one of codec= or target_recall=")
    if len(x) >= MIN_TUNE_ROWS:
        res = choose_codec(x, 0.5, metric=metric, candidates=[spec])
        return res.codec, {"recall": res.recall}
    fit_on = x if len(x) <= FIT_SAMPLE else x[:FIT_SAMPLE]
    return make_codec(spec, metric=metric).fit(fit_on), {"recall": None}


def requantize_table(target: Target, codec: str | None, target_recall: float | None,
                     sample: int) -> tuple[LanceDataset, dict[str, Any]]:
    """One attempt: re-encode the latest version with a new codec (see the module docs).

    Returns:
        ``(dataset, report)``; the report holds ``previous_codec``, ``codec`` (the stored
        spec), ``previous_code_bytes``, ``code_bytes``, ``rows``, ``sample_rows``, ``recall``
        (recall@10 of the new codec on held-out sample rows; ``None`` below 300 rows), and
        for ``target_recall`` also ``target_recall``, ``met`` and ``candidates``.

    Raises:
        WriteConflictError: Another writer committed meanwhile (retry).
        TableError: A Lance vector index exists (a rewrite would drop it).
        InvalidInputError: ``target_recall`` on a table without rows.
    """
    ds = target.open()
    meta = TableMeta.from_schema(ds.schema, target.uri)
    vector_indexes = [i.get("name") for i in list_indices(ds)
                      if meta.vector_column in i.get("fields", [])]
    if vector_indexes:
        raise TableError(f"table {target.uri} has Lance vector indexes {vector_indexes} on"
                         f" {meta.vector_column!r}, which a requantize rewrite would drop;"
                         " drop them (and rebuild after) first")
    old = target.side.get_codec(meta.codec_file) if meta.codec_file else None
    report: dict[str, Any] = {"previous_codec": None if old is None else old.spec,
                              "previous_code_bytes": None if old is None else old.code_bytes}
    rows = ds.count_rows()
    spec = codec
    if rows == 0 or meta.codec_file is None:
        if spec is None:
            raise InvalidInputError(f"table {target.uri} has no rows to measure a recall"
                                    " target on: give codec= instead")
        # No rows: only the target codec changes; the first rows fit it.
        new_meta = TableMeta(**{**meta.__dict__, "codec_spec": spec, "codec_file": None,
                                "aux_file": None, "provisional": True, "stored_codec": None})
        schema = ds.schema.with_metadata({**(ds.schema.metadata or {}),
                                          META_KEY: new_meta.to_json()})
        new = commit_overwrite(target, schema, [], int(ds.version))
        return new, {**report, "codec": spec, "code_bytes": None, "rows": 0, "sample_rows": 0,
                     "recall": None, "version": int(new.version)}
    x = _sample(ds, meta, target, sample)
    fitted, measured = _fit(spec, target_recall, x, meta.metric)
    new_spec = fitted.spec if spec is None else spec
    new_meta = TableMeta(**{**meta.__dict__, "codec_spec": new_spec,
                            "payload": list(meta.payload)})
    out = rewrite_table(target, ds, new_meta, existing_rows(ds, meta, target), codec=fitted)
    if out is None:
        raise TableError(f"requantize of {target.uri} read no rows")
    return out, {**report, **measured, "codec": fitted.spec, "code_bytes": fitted.code_bytes,
                 "rows": rows, "sample_rows": len(x), "version": int(out.version)}
