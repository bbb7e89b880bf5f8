"""Encode clean row batches into the table's Arrow layout (codes, candidate bits, partitions).

Small-table policy: while a table holds fewer than ``fit_rows`` rows its codes use a
*provisional* codec that needs no training sample yet gives the target's size from the first
row: scalar quantisation with the target's bits (8 for targets other than ``sq``) over ranges
known for the metric -- ``+-UNIT_BOUND / sqrt(dim)`` per coordinate of unit-norm vectors
(cosine; scaled by the largest norm seen for ip/l2), widened to cover the rows seen with a
``MARGIN``. An add whose rows fall well outside those ranges (by more than ``OVERFLOW`` of a
range's width; smaller excursions are clipped) re-encodes the table with wider ones;
the write that brings the table to ``fit_rows`` rows fits the target codec (and the
candidate-code centre and IVF centroids) and re-encodes every row (see
:mod:`lance_spiral.table.writes`). Targets that need no training (``float16``, ``lossless``)
are used from the first row. Recall of this path on SciFact: ``docs/tables.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.arrow import encoded_array
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import Codec, make_codec, normalize_rows, parse_spec
from lance_spiral.codecs.scalar import ScalarQuantizer
from lance_spiral.errors import DimensionError, InvalidInputError
from lance_spiral.kernels.hamming import pack_signs
from lance_spiral.table.ingest import RowBatch
from lance_spiral.table.meta import META_KEY, TableMeta

__all__ = ["FIT_SAMPLE", "PK_KEY", "conform", "encode_batch", "fit_aux", "fit_table",
           "needs_fit", "outside_ranges", "provisional_codec", "provisional_ranges",
           "table_schema"]

FIT_SAMPLE = 65536
PK_KEY = "lance-schema:unenforced-primary-key"
UNIT_BOUND = 4.5
MARGIN = 0.1
OVERFLOW = 0.05
TRAINLESS = ("float16", "lossless")


def needs_fit(spec: str) -> bool:
    """Whether codec ``spec`` learns from a sample (otherwise it is used from the first row)."""
    return parse_spec(spec)[0] not in TRAINLESS


def _prep(meta: TableMeta, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return normalize_rows(x) if meta.metric == "cosine" else x


def provisional_ranges(meta: TableMeta, sample: npt.NDArray[np.float32]
                       ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per-dimension ranges of the provisional codec: known bounds, widened to the sample's."""
    xs = _prep(meta, sample)
    d = xs.shape[1]
    scale = 1.0 if meta.metric == "cosine" else 1.5 * float(np.linalg.norm(xs, axis=1).max())
    base = np.float32(min(scale, UNIT_BOUND * scale / np.sqrt(d)))
    mn, mx = xs.min(axis=0), xs.max(axis=0)
    width = mx - mn
    lo = np.minimum(-base, mn - MARGIN * width).astype(np.float32)
    hi = np.maximum(base, mx + MARGIN * width).astype(np.float32)
    return lo, hi


def provisional_codec(meta: TableMeta, sample: npt.NDArray[np.float32]) -> Codec:
    """The small-table codec (see the module docs): no training, the target's code size."""
    name, params = parse_spec(meta.codec_spec)
    if name in TRAINLESS:
        return make_codec(meta.codec_spec, metric=meta.metric).fit(sample)
    bits = int(params.get("bits", 8)) if name == "sq" else 8
    lo, hi = provisional_ranges(meta, sample)
    return ScalarQuantizer.from_ranges(lo, hi, bits=bits, metric=meta.metric)


def outside_ranges(meta: TableMeta, codec: Codec, x: npt.NDArray[np.float32]) -> bool:
    """Whether rows ``x`` fall well outside a provisional codec's ranges.

    A value beyond its dimension's range is clipped to it; beyond ``OVERFLOW`` of the range's
    width the clip would cost recall, so the table is re-encoded with wider ranges instead.
    """
    if not isinstance(codec, ScalarQuantizer) or len(x) == 0:
        return False
    xs = _prep(meta, x)
    width = codec.step * np.float32((1 << codec.bits) - 1)
    slack = np.float32(OVERFLOW) * width
    return bool((xs < codec.lo - slack).any() or (xs > codec.lo + width + slack).any())


def fit_table(meta: TableMeta, side: SideStore, buffered: list[RowBatch], *,
              codec: Codec | None = None
              ) -> tuple[TableMeta, Codec, dict[str, npt.NDArray[Any]] | None]:
    """Fit the codecs of a whole-table write on its first rows and store them as side files.

    Args:
        meta: The table metadata (a copy is updated and returned).
        side: The table's side-file store.
        buffered: The first rows (at least one; up to ``max(fit_rows, FIT_SAMPLE)``).
        codec: Use this fitted codec instead of fitting one.

    Returns:
        ``(meta, codec, aux)``: ``meta.provisional`` says whether the small-table codec is used
        (fewer than ``fit_rows`` rows); ``aux`` holds the candidate-code centre and IVF
        centroids (compressed mode).

    Raises:
        DimensionError: Batches of different widths, or another width than ``meta.dim``.
    """
    meta = TableMeta(**{**meta.__dict__, "payload": list(meta.payload)})
    dims = {rb.vectors.shape[1] for rb in buffered}
    if meta.dim is not None:
        dims.add(meta.dim)
    if len(dims) > 1:
        raise DimensionError(f"vectors have different dimensions {sorted(dims)}")
    n_buf = sum(len(rb) for rb in buffered)
    sample = np.concatenate([rb.vectors for rb in buffered])
    if len(sample) > FIT_SAMPLE:
        pick = np.random.default_rng(0).choice(len(sample), FIT_SAMPLE, replace=False)
        sample = sample[pick]
    provisional = codec is None and n_buf < meta.fit_rows and needs_fit(meta.codec_spec)
    if codec is None:
        codec = (provisional_codec(meta, sample) if provisional
                 else make_codec(meta.codec_spec, metric=meta.metric).fit(sample))
    meta.dim = int(sample.shape[1])
    meta.provisional = provisional
    meta.codec_file = side.put_codec(codec)
    meta.stored_codec = codec.spec
    meta.id_type = "int64" if pa.types.is_integer(buffered[0].ids.type) else "string"
    meta.payload = list(buffered[0].payload.column_names)
    aux = fit_aux(meta, sample, provisional=provisional) if meta.mode == "compressed" else None
    meta.aux_file = side.put_arrays(aux) if aux is not None else None
    return meta, codec, aux


def table_schema(meta: TableMeta, head: pa.Table) -> pa.Schema:
    """The Lance schema of a table whose first encoded batch is ``head``.

    The id column is non-null and marked as Lance's (unenforced) primary key, so that two
    concurrent upserts of one new id cannot both insert it; the metadata record rides along.
    """
    fields = []
    for f in head.schema:
        if f.name == meta.id_column:
            f = pa.field(f.name, f.type, nullable=False, metadata={PK_KEY: "true"})
        fields.append(f)
    return pa.schema(fields, metadata={META_KEY: meta.to_json()})


def fit_aux(
    meta: TableMeta, sample: npt.NDArray[np.float32], *, provisional: bool
) -> dict[str, npt.NDArray[Any]]:
    """Centre of the 1-bit candidate codes and IVF centroids, fitted on ``sample``."""
    xs = _prep(meta, sample)
    if provisional:
        return {"centre": np.zeros(xs.shape[1], dtype=np.float32)}
    aux: dict[str, npt.NDArray[Any]] = {"centre": xs.mean(axis=0).astype(np.float32)}
    if meta.nlist > 0:
        from lance_spiral.kernels.kmeans import kmeans

        k = min(meta.nlist, xs.shape[0])
        aux["centroids"] = kmeans(xs, k, n_iter=10, seed=0, spherical=meta.metric == "cosine")
    return aux


def encode_batch(
    meta: TableMeta, codec: Codec, aux: dict[str, npt.NDArray[Any]] | None, rb: RowBatch
) -> pa.Table:
    """Encode one batch into the table layout (schema metadata not attached)."""
    x = rb.vectors
    if meta.dim is not None and x.shape[1] != meta.dim:
        raise DimensionError(f"vectors have dimension {x.shape[1]}, the table has {meta.dim}")
    ids, payload = rb.ids, rb.payload
    parts: npt.NDArray[np.int32] | None = None
    if meta.mode == "compressed" and aux is not None:
        xs = _prep(meta, x)
        if "centroids" in aux:
            from lance_spiral.kernels.kmeans import assign

            labels, _ = assign(xs, aux["centroids"])
            order = np.argsort(labels, kind="stable")
            parts = labels[order].astype(np.int32)
            x, xs = x[order], xs[order]
            idx = pa.array(order)
            ids, payload = ids.take(idx), payload.take(idx)
        else:
            parts = np.zeros(len(x), dtype=np.int32)
    cols: dict[str, Any] = {meta.id_column: ids}
    for name in payload.column_names:
        cols[name] = payload.column(name)
    if meta.mode == "alongside":
        cols[meta.vector_column] = pa.FixedSizeListArray.from_arrays(
            pa.array(x.reshape(-1), type=pa.float32()), x.shape[1]
        )
    cols[meta.codes_column] = encoded_array(
        codec, codec.encode(x), params="ref", storage="binary"
    )
    if meta.mode == "compressed" and aux is not None and parts is not None:
        bits = pack_signs(xs, aux["centre"])
        cols[meta.bits_column] = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(bits.shape[1]), len(bits), [None, pa.py_buffer(bits.tobytes())]
        )
        cols[meta.partition_column] = pa.array(parts, type=pa.int32())
    return pa.table(cols)


def conform(tbl: pa.Table, schema: pa.Schema) -> pa.Table:
    """``tbl`` cast to ``schema`` (missing payload columns null; unknown columns refused)."""
    extra = [c for c in tbl.column_names if schema.get_field_index(c) < 0]
    if extra:
        raise InvalidInputError(
            f"data has columns the table does not: {extra} (table columns: {schema.names})"
        )
    cols = []
    for f in schema:
        if f.name in tbl.column_names:
            col = tbl.column(f.name)
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InvalidInputError(
                        f"column {f.name!r} has type {col.type}, the table has {f.type}: {exc}"
                    ) from exc
            cols.append(col)
        else:
            cols.append(pa.nulls(tbl.num_rows, type=f.type))
    return pa.Table.from_arrays(cols, schema=schema)
