"""Encode clean row batches into the table's Arrow layout and commit them to Lance in one step.

Every write is a single Lance commit (``create``, ``append`` or ``overwrite``): data files are
written first and the manifest last, so a writer that dies mid-way leaves the previous version
as it was. Side files (codec parameters, centroids) are written *before* the commit that
references them and are never overwritten.

Small-table policy: while a table holds fewer than ``fit_rows`` rows its codes use a
*provisional* codec that needs no real fit (``float16`` when registered, near-lossless). The
first write that brings the table to ``fit_rows`` rows or more fits the target codec (and the
candidate-code centre and IVF centroids) on the rows and re-encodes every row in one
``overwrite`` commit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.arrow import encoded_array
from lance_spiral.codecs import Codec, available_codecs, make_codec, normalize_rows
from lance_spiral.errors import DimensionError, InvalidInputError, TableError
from lance_spiral.table.ingest import RowBatch
from lance_spiral.table.meta import META_KEY, SideStore, TableMeta
from lance_spiral.table.scan import pack_signs

__all__ = ["encode_batch", "write_rows"]

FIT_SAMPLE = 65536
PROVISIONAL_SPEC = "float16"


def _progress(total: int | None, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", desc="encoding", leave=False)


def provisional_codec(meta: TableMeta, sample: npt.NDArray[np.float32]) -> Codec:
    """The small-table codec, which needs no representative sample.

    ``float16`` when registered; otherwise 8-bit min/max scalar quantisation over a range that
    covers the unit sphere (cosine) or twice the sample's largest magnitude (ip, l2).
    """
    if PROVISIONAL_SPEC in available_codecs():
        return make_codec(PROVISIONAL_SPEC, metric=meta.metric).fit(sample)
    d = sample.shape[1]
    bound = 1.0 if meta.metric == "cosine" else 2.0 * float(np.abs(sample).max() or 1.0)
    eye = np.eye(d, dtype=np.float32) * bound
    fit_on = np.concatenate([eye, -eye])
    return make_codec("sq:bits=8,ranges=minmax", metric=meta.metric).fit(fit_on)


def _prep(meta: TableMeta, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return normalize_rows(x) if meta.metric == "cosine" else x


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


def _conform(tbl: pa.Table, schema: pa.Schema) -> pa.Table:
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
                    tbl = _conform(encode_batch(meta, codec, aux, rb), schema)
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
            sample = sample[np.random.default_rng(0).choice(len(sample), FIT_SAMPLE, replace=False)]
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
                yield from _conform(tbl, out_schema).to_batches()

        reader = pa.RecordBatchReader.from_batches(out_schema, _guarded(gen(), box))
        return _write(reader, uri, mode, box), meta
    finally:
        if bar is not None:
            bar.close()
