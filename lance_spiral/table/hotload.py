"""Build and extend hot states fragment by fragment (one cache per table handle).

A new version's state is derived from the previous one: fragments whose data files are unchanged
keep their positions (nothing read); new fragments (appends, the rows an update or upsert
rewrote) are read and appended to the shared buffers; a fragment whose deletion file changed
gets its alive mask refreshed from a scan of its row addresses only; fragments gone from the
version are masked. Only a new codec or aux file (a refit, a requantize, a restore across one)
reloads everything. When dead positions outnumber live ones the buffers are compacted in memory.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.arrow import codes_of
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.errors import CorruptDataError, InvalidParameterError, LanceSpiralError
from lance_spiral.kernels.threads import numba_threads, query_threads
from lance_spiral.table.codecache import bound_malloc, fragment_cache, fragment_of
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.state import (
    SCAN_OPTIONS,
    FragmentInfo,
    HotState,
    RowMap,
    check_memory,
)
from lance_spiral.table.store import Store, slots_in
from lance_spiral.table.tune import retune

__all__ = ["StateCache", "fragment_infos"]

_TAKE_MAX = 4096
_INDEX_TAIL = 4096
_COMPACT_MIN = 16384
_RETUNE = 0.2


def fragment_infos(ds: lance.LanceDataset,
                   known: dict[int, FragmentInfo] | None = None) -> list[FragmentInfo]:
    """The fragments of ``ds``'s version with what identifies their content.

    ``known`` (fragment id -> info of an earlier version) skips the metadata of fragments whose
    row count and deletion file are unchanged: their data files are taken as unchanged too.
    Lance only rewrites a fragment's code columns in place together with a new codec file,
    which reloads every fragment anyway.
    """
    out = []
    for frag in ds.get_fragments():
        fid = int(frag.fragment_id)
        rows = int(frag.physical_rows)
        dele = frag.deletion_file()
        prev = None if known is None else known.get(fid)
        if prev is not None and prev.rows == rows and prev.deletion == dele:
            out.append(prev)
            continue
        md = frag.metadata
        out.append(FragmentInfo(id=fid, rows=rows,
                                files=tuple(_file_path(f) for f in md.files), deletion=dele))
    return out


def _file_path(f: Any) -> str:
    # DataFile.path builds a str subclass per access (pylance 14); the field is cheaper.
    return str(getattr(f, "_path", None) or f.path)


def _state_key(meta: TableMeta) -> tuple[Any, ...]:
    return (meta.codec_file, meta.aux_file, meta.mode, meta.vector_column, meta.nlist)


def _retune_in_background(st: HotState, keys: list[Any]) -> None:
    """Measure new settings for ``st`` and swap them in (the previous ones serve meanwhile)."""
    try:
        with numba_threads(query_threads()):
            fresh = retune(st, keys)
    except Exception as exc:  # a failed background tuning must not kill the process
        warnings.warn(f"re-tuning the search settings of version {st.version} failed; the"
                      f" previous settings stay: {exc}", RuntimeWarning, stacklevel=1)
        return
    st.tuned = {**st.tuned, **fresh}


class StateCache:
    """Hot states of one table handle by version, each derived from the previous one.

    Args:
        side: The table's side-file store (codec and aux arrays).
        memory: ``"ram"`` (codes resident) or ``"disk"`` (codes read per query).
        cache_dir: Disk mode: a local folder caching the code column per fragment (worth it in
            front of object storage); ``None`` reads codes with Lance ``take``.
        keep: States kept (running queries may still hold older ones).
    """

    def __init__(self, side: SideStore, *, memory: str = "ram", cache_dir: str | None = None,
                 keep: int = 2) -> None:
        self.side = side
        self.memory = check_memory(memory)
        if cache_dir is not None:
            if not isinstance(cache_dir, (str, os.PathLike)) or not str(cache_dir):
                raise InvalidParameterError(f"cache_dir must be a folder path, got {cache_dir!r}")
            if self.memory != "disk":
                raise InvalidParameterError("cache_dir caches codes read from the table: it"
                                            " needs memory='disk'")
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        if self.memory == "disk":
            bound_malloc()
        self._keep = keep
        self._lock = threading.Lock()
        self._states: dict[int, HotState] = {}
        self._stores: dict[int, Store] = {}

    def get(self, ds: lance.LanceDataset, meta: TableMeta) -> HotState:
        """The state of ``ds``'s version (cached, or derived from the newest one)."""
        version = int(ds.version)
        st = self._states.get(version)
        if st is not None and _state_key(st.meta) == _state_key(meta):
            return st
        with self._lock:
            st = self._states.get(version)
            if st is not None and _state_key(st.meta) == _state_key(meta):
                return st
            base = max(self._states.values(), key=lambda s: s.version, default=None)
            if base is not None and _state_key(base.meta) != _state_key(meta):
                base = None
            st = self._build(ds, meta, base)
            self._states[version] = st
            while len(self._states) > self._keep:
                oldest = min(self._states)
                del self._states[oldest]
                self._stores.pop(oldest, None)
            return st

    def advance(self, ds: lance.LanceDataset, meta: TableMeta) -> None:
        """Derive the state of a version the handle just moved to, if it was searched before.

        Called after a write: the writer pays the (incremental) cost, so the next search finds
        its state ready. When the write moved the row count too far for the previous automatic
        search settings, the new version keeps serving with them while a background thread
        measures new ones (:func:`~lance_spiral.table.tune.retune`), so neither the writer nor
        a query waits for tuning. Errors are left to the next search, which derives the state
        again.
        """
        if meta.codec_file is None or not self._states:
            return
        prev = max(self._states.values(), key=lambda s: s.version)
        try:
            st = self.get(ds, meta)
        except (LanceSpiralError, OSError, ValueError):
            return
        if st is not prev and prev.tuned and not st.tuned:
            keys = list(prev.tuned)
            st.tuned.update(prev.tuned)
            worker = threading.Thread(target=_retune_in_background, args=(st, keys),
                                      name="lance-spiral-retune", daemon=True)
            st.cache["retune"] = worker
            worker.start()

    # --------------------------------------------------------------------------- build
    def _specs(self, meta: TableMeta, code_bytes: int, stable: bool, int_ids: bool
               ) -> dict[str, tuple[tuple[int, ...], Any]]:
        specs: dict[str, tuple[tuple[int, ...], Any]] = {}
        if self.memory == "ram":
            specs["codes"] = ((code_bytes,), np.uint8)
            if int_ids:
                specs["ids"] = ((), np.int64)
        if meta.mode == "compressed":
            words = ((meta.dim or 0) + 63) // 64
            specs["bits"] = ((words,), np.uint64)
            if meta.nlist > 0:
                specs["parts"] = ((), np.int16 if meta.nlist < 32768 else np.int32)
        if stable:
            specs["rowids"] = ((), np.uint64)
        return specs

    def _build(self, ds: lance.LanceDataset, meta: TableMeta, base: HotState | None
               ) -> HotState:
        if meta.codec_file is None:
            raise CorruptDataError(f"table {ds.uri} has no codec yet")
        codec = self.side.get_codec(meta.codec_file)
        stable = bool(getattr(ds, "has_stable_row_ids", False))
        store = None if base is None else self._stores.get(base.version)
        infos = fragment_infos(ds, None if base is None else {
            i.id: i for i in base.rows.infos})
        if base is None or store is None or (base.rowids is None) == stable:
            kind = ds.schema.field(meta.id_column).type \
                if meta.id_column in ds.schema.names else pa.null()
            int_ids = pa.types.is_signed_integer(kind) or (
                pa.types.is_unsigned_integer(kind) and kind.bit_width < 64)
            base, store = None, Store(self._specs(meta, codec.code_bytes, stable, int_ids), 0)
        old = {} if base is None else {i.key: (i, int(s))
                                       for i, s in zip(base.rows.infos, base.rows.starts,
                                                       strict=True)}
        kept = [(i, old[i.key]) for i in infos if i.key in old]
        new = [i for i in infos if i.key not in old]
        base_n = 0 if base is None else base.n
        base_alive = None if base is None else base.alive
        reindex = base is None
        dead = base_n - sum(i.rows for i, _ in kept)
        if base is not None and dead > max(sum(i.rows for i, _ in kept), _COMPACT_MIN):
            store, base_n, kept, base_alive = self._compact(store, kept, base_alive)
            reindex = True
        extra = sum(i.rows for i in new)
        store = store.reserve(base_n, extra)
        n = base_n + extra
        alive = np.ones(n, dtype=bool)
        if base_alive is not None:
            alive[:base_n] = base_alive[:base_n]
        if base is not None and not reindex:
            live_starts = {s for _, (_, s) in kept}
            for info, s in zip(base.rows.infos, base.rows.starts.tolist(), strict=True):
                if s not in live_starts:
                    alive[s:s + info.rows] = False
        placed: list[tuple[FragmentInfo, int]] = []
        start = base_n
        for info in new:
            placed.append((info, start))
            alive[start:start + info.rows] = False
            start += info.rows
        loaded = self._read(ds, meta, store, placed, alive, stable)
        remask = [(i, s) for i, (prev, s) in kept if i.deletion != prev.deletion]
        mask_rows = self._remask(ds, remask, alive)
        rows = RowMap.build([*[(i, s) for i, (_, s) in kept], *placed])
        fresh = not any(store is other for other in self._stores.values())
        st, store = self._assemble(ds, meta, codec, store, rows, n, alive, base,
                                   reindex=reindex, fresh=fresh)
        st.loaded_rows = loaded
        st.cache["mask_rows"] = mask_rows
        if self.memory == "disk" and self.cache_dir is not None:
            prev = None if base is None else (base.rows, base.disk_cache)
            st.disk_cache = fragment_cache(ds, meta, rows, codec.code_bytes, self.cache_dir,
                                           prev)
        self._stores[st.version] = store
        return st

    def _read(self, ds: lance.LanceDataset, meta: TableMeta, store: Store,
              placed: list[tuple[FragmentInfo, int]], alive: npt.NDArray[np.bool_],
              stable: bool) -> int:
        """Read the new fragments' columns into the store; returns the rows read."""
        if not placed:
            return 0
        arrays = store.arrays
        cols = [c for k, c in (("codes", meta.codes_column), ("bits", meta.bits_column),
                               ("parts", meta.partition_column), ("ids", meta.id_column))
                if k in arrays]
        rows = RowMap.build(placed)
        total = 0
        for batch in self._batches(ds, cols, placed, stable):
            pos = rows.positions(batch.column("_rowaddr").to_numpy().astype(np.uint64))
            if len(pos) and pos.min() < 0:
                raise CorruptDataError(f"table {ds.uri}: a scan returned rows of other fragments")
            alive[pos] = True
            total += len(pos)
            if "codes" in arrays:
                arrays["codes"][pos] = codes_of(batch.column(meta.codes_column))
            if "bits" in arrays:
                arrays["bits"][pos] = codes_of(batch.column(meta.bits_column)).view(np.uint64)
            if "parts" in arrays:
                arrays["parts"][pos] = batch.column(meta.partition_column).to_numpy(
                    zero_copy_only=False)
            if "rowids" in arrays:
                arrays["rowids"][pos] = batch.column("_rowid").to_numpy().astype(np.uint64)
            if "ids" in arrays:
                arrays["ids"][pos] = batch.column(meta.id_column).to_numpy(zero_copy_only=False)
        return total

    @staticmethod
    def _batches(ds: lance.LanceDataset, cols: list[str], placed: list[tuple[FragmentInfo, int]],
                 stable: bool) -> Iterator[pa.RecordBatch]:
        """The new fragments' rows, with their addresses.

        A few small fragments without deletions are read by address (``take``: far cheaper than
        a scan for the one-row appends of a live table); others are scanned.
        """
        if not stable and all(i.deletion is None for i, _ in placed) \
                and sum(i.rows for i, _ in placed) <= _TAKE_MAX:
            addr = np.concatenate([
                (np.uint64(i.id) << np.uint64(32)) | np.arange(i.rows, dtype=np.uint64)
                for i, _ in placed])
            tbl = ds._take_rows(pa.array(addr, pa.uint64()), columns=[*cols, "_rowaddr"])
            if tbl.num_rows != len(addr):
                raise CorruptDataError(f"table {ds.uri}: {len(addr) - tbl.num_rows} rows of new"
                                       " fragments without deletions could not be read")
            yield from tbl.to_batches()
            return
        frags = [fragment_of(ds, i.id) for i, _ in placed]
        scanner = ds.scanner(columns=cols, with_row_address=True, with_row_id=stable or None,
                             fragments=frags, **SCAN_OPTIONS)
        yield from scanner.to_batches()

    def _remask(self, ds: lance.LanceDataset, remask: list[tuple[FragmentInfo, int]],
                alive: npt.NDArray[np.bool_]) -> int:
        """Refresh the alive mask of fragments whose deletion file changed (addresses only)."""
        if not remask:
            return 0
        rows = RowMap.build(remask)
        for info, s in remask:
            alive[s:s + info.rows] = False
        scanner = ds.scanner(columns=[], with_row_address=True, **SCAN_OPTIONS,
                             fragments=[fragment_of(ds, i.id) for i, _ in remask])
        total = 0
        for batch in scanner.to_batches():
            pos = rows.positions(batch.column("_rowaddr").to_numpy().astype(np.uint64))
            alive[pos[pos >= 0]] = True
            total += len(pos)
        return total

    def _compact(self, store: Store, kept: list[tuple[FragmentInfo, tuple[FragmentInfo, int]]],
                 alive: npt.NDArray[np.bool_] | None
                 ) -> tuple[Store, int, list[tuple[FragmentInfo, tuple[FragmentInfo, int]]],
                            npt.NDArray[np.bool_] | None]:
        """Copy the kept fragments' rows (and alive flags) into a fresh store."""
        live = sum(i.rows for i, _ in kept)
        new = Store(store.specs, max(2 * live, 1024))
        new_alive = None if alive is None else np.ones(live, dtype=bool)
        out = []
        start = 0
        for info, (prev, s) in kept:
            for k, arr in store.arrays.items():
                src = slice(s, s + info.rows) if k != "bits" else slots_in(
                    store.layout, np.arange(s, s + info.rows, dtype=np.int64))
                new.arrays[k][start:start + info.rows] = arr[src]
            if new_alive is not None and alive is not None:
                new_alive[start:start + info.rows] = alive[s:s + info.rows]
            out.append((info, (prev, start)))
            start += info.rows
        new.used = start
        return new, start, out, new_alive

    def _assemble(self, ds: lance.LanceDataset, meta: TableMeta, codec: Any, store: Store,
                  rows: RowMap, n: int, alive: npt.NDArray[np.bool_], base: HotState | None,
                  *, reindex: bool, fresh: bool) -> tuple[HotState, Store]:
        arrays = store.arrays
        st = HotState(version=int(ds.version), codec=codec, meta=meta, dataset=ds, rows=rows,
                      n=n, memory=self.memory,
                      codes=arrays["codes"][:n] if "codes" in arrays else None,
                      bits=arrays["bits"][:n] if "bits" in arrays else None,
                      parts=arrays["parts"][:n] if "parts" in arrays else None,
                      rowids=arrays["rowids"][:n] if "rowids" in arrays else None,
                      ids=arrays["ids"][:n] if "ids" in arrays else None,
                      alive=None if alive.all() else alive)
        if meta.mode == "compressed" and meta.aux_file is not None:
            aux = self.side.get_arrays(meta.aux_file)
            st.centre = np.asarray(aux["centre"], dtype=np.float32)
            if meta.nlist > 0 and "centroids" in aux and st.parts is not None:
                st.centroids = np.asarray(aux["centroids"], dtype=np.float32)
                store = self._index(st, None if reindex else base, store, fresh)
        if base is not None and abs(st.n_live - base.tuned_rows) <= _RETUNE * base.tuned_rows:
            st.tuned, st.tuned_rows = base.tuned, base.tuned_rows
        else:
            st.tuned_rows = st.n_live
        return st, store

    def _index(self, st: HotState, base: HotState | None, store: Store, fresh: bool) -> Store:
        """Partition index: reuse the base's while the unindexed tail stays small.

        A new index also lays the candidate bits out partition by partition (see
        :class:`Store`), so that a query reads each probed partition's bits in one sweep.
        """
        assert st.parts is not None and st.centroids is not None
        nlist = len(st.centroids)
        if (base is not None and base.part_order is not None and base.indexed <= st.n
                and st.n - base.indexed <= max(_INDEX_TAIL, st.n // 16)
                and store.layout is not None and store.layout[0] is base.part_order):
            st.part_order, st.part_offsets = base.part_order, base.part_offsets
            st.part_slot, st.indexed = base.part_slot, base.indexed
            return store
        parts = st.parts[:st.n].astype(np.int64)
        order = np.argsort(parts, kind="stable").astype(np.int32)
        st.part_offsets = np.concatenate(
            [[0], np.cumsum(np.bincount(parts, minlength=nlist))]).astype(np.int64)
        store = store.lay_out(order, st.n, fresh)
        assert store.layout is not None
        st.part_order, st.part_slot = store.layout
        st.indexed = st.n
        if "bits" in store.arrays:
            st.bits = store.arrays["bits"][:st.n]
        return store
