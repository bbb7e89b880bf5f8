"""Local cache of the code column (disk memory mode) and bounded process memory.

``cache_dir`` holds one raw file per Lance fragment, ``<sha>.codes`` (``uint8[rows, width]``
in physical row order), named by the table URI, the fragment id and its data files -- which
Lance never rewrites -- so a file never goes stale and processes can share the folder. Files are
written once (temporary name, then an atomic rename) and read through memory maps: a re-rank
reads a few pages of the OS page cache instead of a Lance ``take`` (a request on ``s3://``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading

import lance
import numpy as np
import numpy.typing as npt

from lance_spiral.arrow import codes_of
from lance_spiral.errors import CorruptDataError
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.state import SCAN_OPTIONS, FragmentInfo, RowMap

__all__ = ["bound_malloc", "fragment_cache", "fragment_of"]

_M_MMAP_THRESHOLD = -3  # glibc malloc.h


def fragment_of(ds: lance.LanceDataset, fid: int) -> lance.LanceFragment:
    """Fragment ``fid`` of ``ds``'s version (``CorruptDataError`` when it is missing)."""
    frag = ds.get_fragment(fid)
    if frag is None:
        raise CorruptDataError(f"table {ds.uri} version {ds.version} has no fragment {fid}")
    return frag


_MALLOC_DONE: list[bool] = []


def bound_malloc() -> bool:
    """Pin glibc's mmap threshold at 256 KiB, once per process (the ``disk`` memory mode).

    Lance hands over scan buffers allocated on its I/O threads; with glibc's default *dynamic*
    threshold, freed multi-megabyte buffers raise it and later ones land in per-thread heaps
    that keep the memory: streaming a code column once left about its whole size resident.
    With a fixed threshold large buffers are mapped and unmapped, so bounded mode stays bounded
    (measured in ``benchmarks/bench_read_path.py``). Opt out with
    ``LANCE_SPIRAL_KEEP_MALLOC=1``; a no-op off glibc.

    Returns:
        Whether the threshold was set by this call.
    """
    if _MALLOC_DONE or os.environ.get("LANCE_SPIRAL_KEEP_MALLOC") == "1":
        return False
    _MALLOC_DONE.append(True)
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, 256 << 10))


def fragment_cache(ds: lance.LanceDataset, meta: TableMeta, rows: RowMap, width: int,
                   cache_dir: str,
                   prev: tuple[RowMap, dict[int, npt.NDArray[np.uint8]] | None] | None
                   ) -> dict[int, npt.NDArray[np.uint8]]:
    """Memory maps of each fragment's codes in ``cache_dir`` (filled once per fragment).

    Args:
        ds: The version's dataset.
        meta: Its table metadata.
        rows: Its fragments.
        width: Bytes per code.
        cache_dir: The cache folder (created if missing).
        prev: The previous version's fragments and maps (reused for unchanged fragments).
    """
    os.makedirs(cache_dir, exist_ok=True)
    known: dict[tuple[int, tuple[str, ...]], npt.NDArray[np.uint8]] = {}
    if prev is not None and prev[1] is not None:
        known = {i.key: prev[1][i.id] for i in prev[0].infos if i.id in prev[1]}
    out: dict[int, npt.NDArray[np.uint8]] = {}
    for info in rows.infos:
        if info.key in known:
            out[info.id] = known[info.key]
            continue
        name = hashlib.sha256(
            f"{ds.uri}|{info.id}|{'|'.join(info.files)}|{meta.codes_column}".encode()
        ).hexdigest()[:32]
        path = os.path.join(cache_dir, f"{name}.codes")
        if not os.path.exists(path) or os.path.getsize(path) != info.rows * width:
            _fill(ds, meta, info, width, path)
        out[info.id] = np.memmap(path, dtype=np.uint8, mode="r", shape=(info.rows, width))
    return out


def _fill(ds: lance.LanceDataset, meta: TableMeta, info: FragmentInfo, width: int,
          path: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    mm = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(max(info.rows, 1), width))
    scanner = ds.scanner(columns=[meta.codes_column], with_row_address=True,
                         fragments=[fragment_of(ds, info.id)], **SCAN_OPTIONS)
    for batch in scanner.to_batches():
        off = (batch.column("_rowaddr").to_numpy().astype(np.uint64)
               & np.uint64(0xFFFFFFFF)).astype(np.int64)
        mm[off] = codes_of(batch.column(meta.codes_column))
    mm.flush()
    del mm
    if info.rows == 0:
        open(tmp, "wb").close()
    os.replace(tmp, path)
