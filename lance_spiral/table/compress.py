"""Compress an existing Lance dataset or LanceDB table in place (``lance-spiral compress``).

The float vectors of a table made by plain Lance or LanceDB are encoded into the code columns of
a compressed table (:mod:`lance_spiral.table.meta`), added with Lance's column evolution: each
fragment gets a new data file holding only the new columns and one ``Merge`` commit,
conditional on the version read, adds them with the table metadata (no other column is
rewritten; Lance indexes on the float column are kept). Until that commit the table is
unchanged, so a killed run leaves no half state; each finished fragment is checkpointed next to
the table (``_lance_spiral/compress-v<version>/``) and a rerun reuses it and the fitted codec,
so no work is done twice (see :mod:`lance_spiral.table.evolve`).

``drop_float`` (compressed mode) then frees the float column: ``drop_columns``, a ``Rewrite``
commit of the fragments whose data files still hold it (Lance keeps all original columns in one
file), scalar indexes rebuilt, and ``cleanup_old_versions`` of every older version.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.fs as pafs

from lance_spiral._validation import check_int, check_metric
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import Codec, make_codec, parse_spec
from lance_spiral.codecs.tuner import choose_codec
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError, TableError
from lance_spiral.table.encode import fit_aux
from lance_spiral.table.evolve import (
    Checkpoint,
    add_code_columns,
    drop_float_column,
    set_table_meta,
)
from lance_spiral.table.ingest import vectors_from_arrow
from lance_spiral.table.meta import META_KEY, TableMeta

__all__ = ["CompressResult", "add_arguments", "compress_table", "run"]

@dataclass
class CompressResult:
    """What :func:`compress_table` did.

    Attributes:
        uri: The Lance dataset (open it with :func:`lance_spiral.table.open_table`).
        version: The table version after the run.
        mode: ``alongside`` or ``compressed``.
        codec: Spec of the codec the codes use.
        rows: Rows in the table.
        fragments_encoded: Fragments encoded by this run.
        fragments_resumed: Fragments taken from a killed run's checkpoint.
        dropped_float: Whether the float column was dropped and its bytes freed.
        bytes_before: Bytes of the dataset directory before the run.
        bytes_after: Bytes after it.
        seconds: Wall-clock time of the run.
    """

    uri: str
    version: int
    mode: str
    codec: str
    rows: int
    fragments_encoded: int
    fragments_resumed: int
    dropped_float: bool
    bytes_before: int
    bytes_after: int
    seconds: float


def _dataset_uri(uri: str, table: str | None, storage_options: dict[str, str] | None) -> str:
    if table is None:
        return uri
    import lancedb

    db = lancedb.connect(uri, storage_options=storage_options)
    try:
        tbl = db.open_table(table)
    except (ValueError, OSError, FileNotFoundError) as exc:
        raise NotFoundError(f"LanceDB database {uri} has no table {table!r}") from exc
    if not isinstance(tbl, lancedb.table.LanceTable):
        raise InvalidInputError(f"table {table!r} of {uri} is not a local/object-store table")
    return str(tbl.uri)


def _open(uri: str, storage_options: dict[str, str] | None) -> lance.LanceDataset:
    try:
        return lance.dataset(uri, storage_options=storage_options)
    except (ValueError, OSError) as exc:
        raise NotFoundError(f"no Lance dataset at {uri}: {exc}") from exc


def _side(uri: str, storage_options: dict[str, str] | None) -> SideStore:
    return SideStore(uri, storage_options=storage_options)


def _dir_bytes(side: SideStore) -> int:
    root = side.root.rsplit("/", 1)[0]
    infos = side.fs.get_file_info(pafs.FileSelector(root, recursive=True))
    return int(sum(i.size or 0 for i in infos if i.type == pafs.FileType.File))


def _check_source(ds: lance.LanceDataset, column: str, id_column: str) -> int:
    names = ds.schema.names
    if column not in names:
        raise InvalidInputError(f"table has no vector column {column!r} (columns: {names})")
    if id_column not in names:
        raise InvalidInputError(
            f"table has no id column {id_column!r} (columns: {names}); pass id_column=")
    typ = ds.schema.field(column).type
    if not (pa.types.is_fixed_size_list(typ) and pa.types.is_floating(typ.value_type)):
        raise InvalidInputError(
            f"column {column!r} must hold fixed-size float vectors, got {typ}")
    ids = ds.schema.field(id_column).type
    if not (pa.types.is_integer(ids) or pa.types.is_string(ids) or pa.types.is_large_string(ids)):
        raise InvalidInputError(f"id column {id_column!r} must hold strings or integers, got {ids}")
    if ds.count_rows() == 0:
        raise InvalidInputError("the table is empty: nothing to fit a codec on")
    return int(typ.list_size)


def _sample(ds: lance.LanceDataset, column: str, n: int) -> npt.NDArray[np.float32]:
    total = ds.count_rows()
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(total, size=min(n, total), replace=False))
    tbl = ds.take(pick, columns=[column])
    return vectors_from_arrow(tbl.column(column), column)


def _fit(meta: TableMeta, sample: npt.NDArray[np.float32], codec: str | None,
         target_recall: float | None) -> Codec:
    if target_recall is not None:
        return choose_codec(sample, target_recall=target_recall, metric=meta.metric).codec
    return make_codec(str(codec), metric=meta.metric).fit(sample)


def compress_table(
    uri: str,
    *,
    table: str | None = None,
    column: str = "vector",
    id_column: str = "id",
    codec: str | None = None,
    target_recall: float | None = None,
    mode: str = "alongside",
    metric: str = "cosine",
    drop_float: bool = False,
    nlist: int = 0,
    storage_options: dict[str, str] | None = None,
    sample: int = 65536,
    batch_size: int = 16384,
    progress: bool = True,
) -> CompressResult:
    """Add code columns to an existing Lance/LanceDB table, making it a compressed table.

    Args:
        uri: A Lance dataset, or a LanceDB database when ``table`` is given (paths or s3://).
        table: Table name inside the LanceDB database ``uri``.
        column: The float vector column to encode.
        id_column: The id column (strings or integers) results are returned by.
        codec: Codec spec (``"sq:bits=8"``...); exactly one of ``codec`` / ``target_recall``.
        target_recall: Pick the fewest-bytes codec meeting this recall@10 on a sample
            (:func:`lance_spiral.codecs.tuner.choose_codec`).
        mode: ``alongside`` (float column and its Lance index kept; codes re-rank) or
            ``compressed`` (1-bit candidates + codes; the float column can then be dropped).
        metric: ``cosine``, ``ip`` or ``l2`` (what the codes are searched with).
        drop_float: Compressed mode: drop the float column and free its bytes (old versions
            are cleaned up: time travel to before this point is lost).
        nlist: Compressed mode: IVF partitions (0: full scan of the 1-bit codes).
        storage_options: Lance storage options for object stores (``aws_endpoint``...).
        sample: Rows sampled to fit the codec.
        batch_size: Rows encoded per batch.
        progress: Show a progress bar.

    Returns:
        A :class:`CompressResult`.

    Raises:
        InvalidParameterError: Bad or conflicting options.
        InvalidInputError: No such column, wrong types, null or non-finite vectors.
        NotFoundError: No dataset (or no such LanceDB table).
        TableError: The table is already compressed differently, or a commit failed.
    """
    t0 = time.perf_counter()
    if (codec is None) == (target_recall is None):
        raise InvalidParameterError("give exactly one of codec= or target_recall=")
    if codec is not None:
        parse_spec(codec)
    if target_recall is not None and (isinstance(target_recall, bool) or not isinstance(
            target_recall, (int, float)) or not 0.0 < float(target_recall) <= 1.0):
        raise InvalidParameterError(f"target_recall must be in (0, 1], got {target_recall!r}")
    if mode not in ("alongside", "compressed"):
        raise InvalidParameterError(f"mode must be 'alongside' or 'compressed', got {mode!r}")
    if drop_float and mode != "compressed":
        raise InvalidParameterError("drop_float needs mode='compressed' (alongside mode searches"
                                    " the float column's index)")
    metric = check_metric(metric)
    check_int(nlist, "nlist", lo=0)
    check_int(sample, "sample", lo=300)
    check_int(batch_size, "batch_size", lo=1)
    if nlist and mode != "compressed":
        raise InvalidParameterError("nlist applies to mode='compressed' only")
    ds_uri = _dataset_uri(uri, table, storage_options)
    ds = _open(ds_uri, storage_options)
    side = _side(ds_uri, storage_options)
    before = _dir_bytes(side)
    encoded = resumed = 0
    if META_KEY in (ds.schema.metadata or {}):
        meta = TableMeta.from_schema(ds.schema, ds_uri)
        if meta.vector_column != column or meta.mode != mode:
            raise TableError(f"{ds_uri} is already a compressed table (mode {meta.mode!r}, "
                             f"column {meta.vector_column!r}); requantize() changes its codec")
    elif (prev := Checkpoint(side, ds.version - 1)).merged_into(ds.version):
        meta = TableMeta(**(prev.plan() or {})["meta"])
        ds = set_table_meta(ds_uri, ds, meta, storage_options)
        prev.clear()
    else:
        dim = _check_source(ds, column, id_column)
        ckpt = Checkpoint(side, ds.version)
        want = {"column": column, "id_column": id_column, "mode": mode, "metric": metric,
                "nlist": nlist, "codec": codec, "target_recall": target_recall}
        plan = ckpt.plan()
        if plan is not None and plan.get("want") == want:
            meta = TableMeta(**plan["meta"])
            fitted = side.get_codec(str(meta.codec_file))
        else:
            ids_type = ds.schema.field(id_column).type
            reserved = {f"{column}_codes", f"{column}_bits", f"{column}_partition"}
            clash = sorted(reserved.intersection(ds.schema.names))
            if clash:
                raise InvalidInputError(f"columns {clash} exist already: they are reserved for"
                                        " the codes of this vector column")
            payload = [c for c in ds.schema.names if c not in (column, id_column)]
            meta = TableMeta(mode=mode, metric=metric, dim=dim, codec_spec=codec or "",
                             provisional=False, vector_column=column, id_column=id_column,
                             id_type="int64" if pa.types.is_integer(ids_type) else "string",
                             nlist=nlist, payload=payload)
            xs = _sample(ds, column, sample)
            fitted = _fit(meta, xs, codec, target_recall)
            meta.codec_spec = fitted.spec
            meta.codec_file = side.put_codec(fitted)
            if mode == "compressed":
                meta.aux_file = side.put_arrays(fit_aux(meta, xs, provisional=False))
            ckpt.start({"want": want, "meta": asdict(meta)})
        aux = side.get_arrays(meta.aux_file) if meta.aux_file else None
        ds, encoded, resumed = add_code_columns(ds_uri, ds, storage_options, meta, fitted, aux,
                                                ckpt, progress, batch_size)
    if drop_float:
        ds = drop_float_column(ds_uri, ds, meta, storage_options)
    return CompressResult(uri=ds_uri, version=int(ds.version), mode=meta.mode,
                          codec=meta.codec_spec, rows=int(ds.count_rows()),
                          fragments_encoded=encoded, fragments_resumed=resumed,
                          dropped_float=drop_float, bytes_before=before,
                          bytes_after=_dir_bytes(side), seconds=time.perf_counter() - t0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the ``compress`` command's arguments."""
    p.add_argument("uri", help="a Lance dataset, or a LanceDB database with --table")
    p.add_argument("--table", default=None, help="table name inside the LanceDB database URI")
    p.add_argument("--column", default="vector", help="float vector column (default: vector)")
    p.add_argument("--id-column", default="id", help="id column (default: id)")
    grp = p.add_mutually_exclusive_group(required=True)
    grp.add_argument("--codec", default=None, help="codec spec, e.g. sq:bits=8")
    grp.add_argument("--target-recall", type=float, default=None,
                     help="pick the smallest codec meeting this recall@10 on a sample")
    p.add_argument("--mode", choices=("alongside", "compressed"), default="alongside")
    p.add_argument("--metric", default="cosine", help="cosine, ip or l2 (default: cosine)")
    p.add_argument("--nlist", type=int, default=0, help="IVF partitions (compressed mode)")
    p.add_argument("--drop-float", action="store_true",
                   help="drop the float column and clean up old versions (compressed mode)")
    p.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                   help="Lance storage option (repeatable), e.g. aws_endpoint=http://...")


def parse_storage_options(items: list[str]) -> dict[str, str] | None:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (``None`` when empty)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--storage-option takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out or None


def run(args: argparse.Namespace) -> int:
    """Run ``lance-spiral compress`` from parsed arguments; prints what it did."""
    res = compress_table(
        args.uri, table=args.table, column=args.column, id_column=args.id_column,
        codec=args.codec, target_recall=args.target_recall, mode=args.mode, metric=args.metric,
        drop_float=args.drop_float, nlist=args.nlist,
        storage_options=parse_storage_options(args.storage_option),
        progress=not getattr(args, "quiet", False))
    print(f"{res.uri}: {res.rows} rows, mode {res.mode}, codec {res.codec}, version "
          f"{res.version}; fragments encoded {res.fragments_encoded}, resumed "
          f"{res.fragments_resumed}; bytes {res.bytes_before:,} -> {res.bytes_after:,}"
          f"{' (float column dropped)' if res.dropped_float else ''}; {res.seconds:.1f} s")
    return 0
