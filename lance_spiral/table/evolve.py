"""Column evolution steps of in-place compression: code columns added, float column dropped.

:func:`add_code_columns` encodes every fragment's float vectors into new data files holding only
the code columns (``LanceFragment.merge_columns``: no other column is rewritten) and lands them
with the table metadata in one ``Merge`` commit conditional on the version read; each finished
fragment is checkpointed (:class:`Checkpoint`) so a killed run resumes without redoing it.
:func:`drop_float_column` drops the float column, rewrites (``Rewrite`` commit) the fragments
whose data files still hold it, rebuilds scalar indexes and cleans up older versions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.fs as pafs
from lance.fragment import FragmentMetadata, write_fragments

from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import Codec
from lance_spiral.errors import LanceSpiralError, TableError
from lance_spiral.table.encode import encode_batch
from lance_spiral.table.ingest import RowBatch, vectors_from_arrow
from lance_spiral.table.meta import META_KEY, TableMeta
from lance_spiral.table.snapshot import list_indices

__all__ = ["Checkpoint", "add_code_columns", "drop_float_column", "set_table_meta"]

_SCALAR_KINDS = ("BTREE", "BITMAP", "LABEL_LIST", "INVERTED")

class Checkpoint:
    """A run's plan and finished fragments, stored next to the table (any pyarrow file system).

    Keyed by the version the run started from: a checkpoint of another version is never used.
    """

    def __init__(self, side: SideStore, version: int) -> None:
        self.fs = side.fs
        self.root = f"{side.root}/compress-v{version}"

    def _put(self, name: str, obj: dict[str, Any]) -> None:
        self.fs.create_dir(self.root, recursive=True)
        tmp = f"{self.root}/{name}.tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(json.dumps(obj).encode("utf-8"))
        self.fs.move(tmp, f"{self.root}/{name}")

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(f"{self.root}/{name}") as inp:
                obj = json.loads(bytes(inp.read()).decode("utf-8"))
        except (FileNotFoundError, OSError, ValueError):
            return None
        return obj if isinstance(obj, dict) else None

    def plan(self) -> dict[str, Any] | None:
        """The stored plan (options, table metadata), or ``None``."""
        return self._get("plan.json")

    def merged_into(self, version: int) -> bool:
        """Whether this run's columns landed as ``version``, its metadata not yet."""
        plan = self.plan()
        return plan is not None and plan.get("merged") == version

    def start(self, plan: dict[str, Any]) -> None:
        """Begin a fresh run: forget earlier fragments, store ``plan``."""
        self.clear()
        self._put("plan.json", plan)

    def done(self) -> dict[int, FragmentMetadata]:
        """Fragments finished so far: fragment id -> its new metadata."""
        sel = pafs.FileSelector(self.root, allow_not_found=True)
        out: dict[int, FragmentMetadata] = {}
        for info in self.fs.get_file_info(sel):
            name = info.base_name
            if name.startswith("frag-") and name.endswith(".json"):
                obj = self._get(name)
                if obj is not None:
                    out[int(name[5:-5])] = FragmentMetadata.from_json(json.dumps(obj["fragment"]))
        return out

    def merged(self, version: int) -> None:
        """Record that the columns landed as ``version`` (the metadata commit follows)."""
        plan = self.plan() or {}
        self._put("plan.json", {**plan, "merged": version})

    def finish(self, frag_id: int, frag: FragmentMetadata) -> None:
        """Record fragment ``frag_id`` as encoded into ``frag``."""
        self._put(f"frag-{frag_id}.json", {"fragment": frag.to_json()})

    def clear(self) -> None:
        """Remove the checkpoint (after the commit)."""
        if self.fs.get_file_info(self.root).type != pafs.FileType.NotFound:
            self.fs.delete_dir(self.root)


def _encoder(meta: TableMeta, codec: Codec, aux: dict[str, npt.NDArray[Any]] | None,
             bar: Any) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """The per-batch UDF: float vectors -> the table's code columns, in row order."""
    new_cols = [c for c in meta.internal_columns() if c != meta.vector_column]

    def udf(batch: pa.RecordBatch) -> pa.RecordBatch:
        x = vectors_from_arrow(batch.column(meta.vector_column), meta.vector_column)
        n = len(x)
        pos = pa.array(np.arange(n, dtype=np.int64))
        tbl = encode_batch(meta, codec, aux, RowBatch(ids=pos, vectors=x,
                                                       payload=pa.table({"p": pos}).select([])))
        order = np.argsort(tbl.column(meta.id_column).to_numpy())
        tbl = tbl.select(new_cols).take(pa.array(order))
        if bar is not None:
            bar.update(n)
        return pa.RecordBatch.from_arrays([tbl.column(c).combine_chunks() for c in new_cols],
                                          schema=tbl.schema)

    return udf


def _merge_schema(schema: Any, meta: TableMeta) -> Any:
    """The merged Lance schema with the table metadata, when its field ids survive the trip."""
    from lance.schema import LanceSchema

    def ids(fields: list[Any]) -> list[Any]:
        return [(f.name(), f.id(), ids(f.children())) for f in fields]

    with_meta = LanceSchema.from_pyarrow(
        schema.to_pyarrow().with_metadata({META_KEY: meta.to_json()}))
    return with_meta if ids(with_meta.fields()) == ids(schema.fields()) else None


def add_code_columns(uri: str, ds: lance.LanceDataset, opts: dict[str, str] | None,
                     meta: TableMeta, codec: Codec, aux: dict[str, npt.NDArray[Any]] | None,
                     ckpt: Checkpoint, progress: bool, batch_size: int
                     ) -> tuple[lance.LanceDataset, int, int]:
    """Encode ``ds``'s float column into the code columns of ``meta`` and commit them once.

    Args:
        uri: Dataset URI.
        ds: The dataset at the version the run started from.
        opts: Lance storage options.
        meta: Metadata of the compressed table to make (codec and aux files stored).
        codec: The fitted codec.
        aux: Candidate-code centre and IVF centroids (compressed mode).
        ckpt: The run's checkpoint (fragments already finished are reused).
        progress: Show a progress bar.
        batch_size: Rows per encoded batch.

    Returns:
        ``(dataset after the commit, fragments encoded now, fragments reused)``.

    Raises:
        TableError: Encoding or the commit failed (nothing was committed).
    """
    done = ckpt.done()
    todo = [f for f in ds.get_fragments() if f.fragment_id not in done]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(f.count_rows() for f in todo), unit="rows", desc="compressing")
    udf = _encoder(meta, codec, aux, bar)
    frags: dict[int, FragmentMetadata] = dict(done)
    schema = None
    try:
        for frag in todo:
            try:
                new, schema = frag.merge_columns(udf, columns=[meta.vector_column],
                                                 batch_size=batch_size)
            except LanceSpiralError:
                raise
            except Exception as exc:
                raise TableError(f"encoding fragment {frag.fragment_id} of {uri} failed: {exc}"
                                 ) from exc
            ckpt.finish(frag.fragment_id, new)
            frags[frag.fragment_id] = new
    finally:
        if bar is not None:
            bar.close()
    if schema is None:  # every fragment came from the checkpoint: one empty merge gives the schema
        first = ds.get_fragments()[0]
        _, schema = first.merge_columns(udf, columns=[meta.vector_column], batch_size=batch_size)
    ordered = [frags[f.fragment_id] for f in ds.get_fragments()]
    full = _merge_schema(schema, meta)
    op = lance.LanceOperation.Merge(ordered, full if full is not None else schema)
    try:
        new_ds = lance.LanceDataset.commit(uri, op, read_version=ds.version,
                                           storage_options=opts)
    except (OSError, ValueError, RuntimeError) as exc:
        raise TableError(f"committing the code columns to {uri} failed (did another writer"
                         f" commit meanwhile? rerun to retry): {exc}") from exc
    if full is None:
        # Field ids with gaps (a column dropped earlier) do not survive a schema rebuilt from
        # Arrow: the metadata follows in a second commit, recorded so a rerun can finish it.
        ckpt.merged(new_ds.version)
        new_ds = set_table_meta(uri, new_ds, meta, opts)
    ckpt.clear()
    return new_ds, len(todo), len(done)


def set_table_meta(uri: str, ds: lance.LanceDataset, meta: TableMeta,
                   opts: dict[str, str] | None) -> lance.LanceDataset:
    """Write the table metadata into ``ds``'s schema (one commit); returns the new dataset."""
    ds.update_schema_metadata({META_KEY.decode(): meta.to_json().decode()})
    return lance.dataset(uri, storage_options=opts)


def drop_float_column(uri: str, ds: lance.LanceDataset, meta: TableMeta,
                      opts: dict[str, str] | None) -> lance.LanceDataset:
    """Drop the float column and free its bytes; safe to rerun after a kill at any step.

    Raises:
        TableError: Cleanup refused (tagged old versions still hold the float data).
    """
    if meta.vector_column in ds.schema.names:
        ds.drop_columns([meta.vector_column])
        ds = lance.dataset(uri, storage_options=opts)
    live = {f.id() for f in _all_fields(ds.lance_schema.fields())}
    stale = [f for f in ds.get_fragments()
             if any(set(d.fields) - live for d in f.metadata.files)]
    if stale:
        keep = ds.schema.names
        groups = []
        for frag in stale:
            reader = pa.RecordBatchReader.from_batches(
                ds.schema, frag.to_batches(columns=keep, batch_size=65536))
            new = write_fragments(reader, uri, schema=ds.schema, storage_options=opts)
            groups.append(lance.LanceOperation.RewriteGroup(old_fragments=[frag.metadata],
                                                            new_fragments=new))
        op = lance.LanceOperation.Rewrite(groups=groups, rewritten_indices=[])
        ds = lance.LanceDataset.commit(uri, op, read_version=ds.version, storage_options=opts)
        for idx in list_indices(ds):
            kind = str(idx.get("type", "")).upper()
            for col in idx.get("fields", []):
                if kind in _SCALAR_KINDS and col in ds.schema.names:
                    ds.create_scalar_index(col, index_type=kind,  # type: ignore[arg-type]
                                           replace=True)
        ds = lance.dataset(uri, storage_options=opts)
    try:
        ds.cleanup_old_versions(older_than=timedelta(0))
    except (OSError, ValueError, RuntimeError) as exc:
        raise TableError(f"cleanup of old versions of {uri} failed (tagged versions keep the"
                         f" float data until their tags are deleted): {exc}") from exc
    return lance.dataset(uri, storage_options=opts)


def _all_fields(fields: list[Any]) -> list[Any]:
    out = []
    for f in fields:
        out.append(f)
        out.extend(_all_fields(f.children()))
    return out
