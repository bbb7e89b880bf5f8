"""Hot search state of one table version: candidate bits, partitions (and codes) in RAM.

Rows sit in append-only buffers shared by the successive versions a table handle sees
(:mod:`lance_spiral.table.hotload` builds and extends them); each Lance fragment owns a range of
positions ``[start, start + physical_rows)``, so a row's position follows from its Lance row
address (``fragment_id << 32 | offset``) and never shifts when other rows are deleted. A state
only reads positions below its own ``n``, so a later version appending in place never changes
what an earlier state (still used by a running query) sees. Rows deleted in this version, or of
fragments no longer in it, are ``False`` in ``alive`` and never returned.

Memory modes:

* ``"ram"``: the codec's codes of every row are resident (re-rank from memory).
* ``"disk"``: only the 1-bit candidate codes and IVF partitions are resident; the codes of the
  few re-rank candidates are read from the table with Lance ``take`` (or from a local disk
  cache of the code column, e.g. in front of ``s3://``) when a query needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.arrow import codes_of
from lance_spiral.codecs import Codec
from lance_spiral.errors import CorruptDataError, InvalidParameterError
from lance_spiral.kernels.gather import gather_rows
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.store import map_below

__all__ = ["MEMORY_MODES", "SCAN_OPTIONS", "FragmentInfo", "HotState", "RowMap", "check_memory"]

MEMORY_MODES = ("ram", "disk")
# Scans that build or stream the state read a column of every row: small batches, little
# readahead and a bounded I/O buffer keep their transient memory small whatever the row count.
SCAN_OPTIONS: dict[str, Any] = {"batch_size": 16384, "batch_readahead": 2,
                                "fragment_readahead": 1, "io_buffer_size": 32 << 20}
_OFFSET_MASK = np.uint64(0xFFFFFFFF)


def check_memory(memory: Any) -> str:
    """Validate a memory mode name (``"ram"`` or ``"disk"``)."""
    if memory not in MEMORY_MODES:
        raise InvalidParameterError(f"memory must be one of {MEMORY_MODES}, got {memory!r}")
    return str(memory)


@dataclass(frozen=True)
class FragmentInfo:
    """What identifies a Lance fragment's content: id, rows, data files and deletion file."""

    id: int
    rows: int
    files: tuple[str, ...]
    deletion: str | None

    @property
    def key(self) -> tuple[int, tuple[str, ...]]:
        """Identity of the fragment's column data (deletions aside); data files never change."""
        return self.id, self.files


@dataclass(frozen=True)
class RowMap:
    """Fragments of a version and the buffer positions they own (sorted by fragment id).

    Attributes:
        infos: The fragments, by ascending id.
        starts: First buffer position of each fragment.
        ids: Fragment ids (``int64``), ascending.
        counts: Physical rows of each fragment.
    """

    infos: tuple[FragmentInfo, ...]
    starts: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]

    @classmethod
    def build(cls, placed: list[tuple[FragmentInfo, int]]) -> RowMap:
        """From ``(fragment, start position)`` pairs."""
        placed = sorted(placed, key=lambda p: p[0].id)
        return cls(infos=tuple(p[0] for p in placed),
                   starts=np.array([p[1] for p in placed], dtype=np.int64),
                   ids=np.array([p[0].id for p in placed], dtype=np.int64),
                   counts=np.array([p[0].rows for p in placed], dtype=np.int64))

    def positions(self, addresses: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Buffer positions of Lance row addresses (``-1`` for fragments not in the version)."""
        addr = np.asarray(addresses, dtype=np.uint64)
        ids = self.ids
        if len(ids) == 0:
            return np.full(len(addr), -1, dtype=np.int64)
        frag = (addr >> np.uint64(32)).astype(np.int64)
        off = (addr & _OFFSET_MASK).astype(np.int64)
        j = np.minimum(np.searchsorted(ids, frag), len(ids) - 1)
        ok = (ids[j] == frag) & (off < self.counts[j])
        return np.where(ok, self.starts[j] + off, -1)

    def segment_of(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index (into ``infos``) of the fragment owning each position of the version."""
        order = np.argsort(self.starts, kind="stable")
        j = np.searchsorted(self.starts[order], np.asarray(positions), side="right") - 1
        return np.asarray(order[np.maximum(j, 0)], dtype=np.int64)

    def addresses(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        """Lance row addresses of buffer positions (which must belong to the version)."""
        pos = np.asarray(positions, dtype=np.int64)
        j = self.segment_of(pos)
        off = pos - self.starts[j]
        return (self.ids[j].astype(np.uint64) << np.uint64(32)) | off.astype(np.uint64)


@dataclass
class HotState:
    """In-memory arrays of one table version (see the module docs).

    Attributes:
        version: Lance version.
        codec: The fitted codec of the version's codes.
        meta: Table metadata of the version.
        dataset: The Lance dataset at this version (codes are read from it in disk mode).
        rows: The fragments and the positions they own.
        n: Positions in use (live and dead rows).
        memory: ``"ram"`` or ``"disk"``.
        codes: ``uint8[n, code_bytes]`` (``None`` in disk mode).
        bits: ``uint64[n, words]`` 1-bit candidate codes (compressed mode), in *slot* order:
            slots below ``indexed`` hold the positions ``part_order`` lists (partition by
            partition, so a probed partition is one contiguous read), later slots their own
            position (see :meth:`slots_of`, :meth:`positions_at`).
        parts: IVF partition of each position (compressed mode with ``nlist > 0``).
        alive: ``bool[n]``: rows of this version (``None``: every position is).
        rowids: Stable Lance row ids per position (tables with stable row ids only).
        ids: The id column per position (RAM mode, integer ids): a query returning ids and
            scores only never reads the table.
        centre: Centre of the candidate codes.
        centroids: IVF centroids.
        part_order: Positions below ``indexed`` sorted by partition.
        part_offsets: Start of each partition in ``part_order`` (``nlist + 1``).
        part_slot: Inverse of ``part_order``: the slot of each position below ``indexed``.
        indexed: Positions covered by ``part_order``; later ones are scanned by partition value.
        tuned: Automatic depths / nprobes, carried over small appends.
        tuned_rows: Live rows when ``tuned`` was measured.
        loaded_rows: Rows read from Lance to build this state from the previous one.
        disk_cache: Per-fragment memory maps of the code column (disk mode with a cache).
        cache: Per-version facts (never carried to another version).
    """

    version: int
    codec: Codec
    meta: TableMeta
    dataset: lance.LanceDataset
    rows: RowMap
    n: int
    memory: str = "ram"
    codes: npt.NDArray[np.uint8] | None = None
    bits: npt.NDArray[np.uint64] | None = None
    parts: npt.NDArray[Any] | None = None
    alive: npt.NDArray[np.bool_] | None = None
    rowids: npt.NDArray[np.uint64] | None = None
    ids: npt.NDArray[np.int64] | None = None
    centre: npt.NDArray[np.float32] | None = None
    centroids: npt.NDArray[np.float32] | None = None
    part_order: npt.NDArray[np.int32] | None = None
    part_offsets: npt.NDArray[np.int64] | None = None
    part_slot: npt.NDArray[np.int32] | None = None
    indexed: int = 0
    tuned: dict[Any, Any] = field(default_factory=dict)
    tuned_rows: int = 0
    loaded_rows: int = 0
    disk_cache: dict[int, npt.NDArray[np.uint8]] | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def n_live(self) -> int:
        """Rows of the version."""
        if "n_live" not in self.cache:
            self.cache["n_live"] = self.n if self.alive is None else int(self.alive.sum())
        live: int = self.cache["n_live"]
        return live

    def live_positions(self) -> npt.NDArray[np.int64]:
        """Positions of the version's rows, ascending (computed per call: never resident)."""
        if self.alive is None:
            return np.arange(self.n, dtype=np.int64)
        return np.flatnonzero(self.alive).astype(np.int64)

    def sample_live(self, rng: np.random.Generator, m: int) -> npt.NDArray[np.int64]:
        """``m`` distinct live positions drawn at random (fewer when fewer exist)."""
        m = min(m, self.n_live)
        if self.alive is None or self.n_live * 2 < self.n:
            live = self.live_positions()
            return np.asarray(rng.choice(live, size=m, replace=False), dtype=np.int64)
        picked: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        while len(picked) < m:
            draw = rng.choice(self.n, size=2 * m, replace=False) if self.n >= 2 * m else \
                rng.permutation(self.n)
            picked = np.unique(np.concatenate([picked, draw[self.alive[draw]]]))
        return np.asarray(rng.permutation(picked)[:m], dtype=np.int64)

    # ------------------------------------------------------------------ row identities
    def positions_of_addresses(self, addresses: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Positions of Lance row addresses (``_rowaddr``); rows not in the version dropped."""
        pos = self.rows.positions(addresses)
        pos = pos[pos >= 0]
        if self.alive is not None:
            pos = pos[self.alive[pos]]
        return pos

    def positions_of(self, rowids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Positions of Lance row ids (``_rowid``); unknown or deleted ids are dropped."""
        rid = np.asarray(rowids, dtype=np.uint64)
        if self.rowids is None:
            return self.positions_of_addresses(rid)
        if "rowid_sort" not in self.cache:
            live = self.live_positions()
            order = np.argsort(self.rowids[live], kind="stable")
            self.cache["rowid_sort"] = (self.rowids[live][order], live[order])
        srt, where = self.cache["rowid_sort"]
        if len(srt) == 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.minimum(np.searchsorted(srt, rid), len(srt) - 1)
        return np.asarray(where[idx[srt[idx] == rid]], dtype=np.int64)

    def rowids_at(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        """Lance row ids (what ``_take_rows`` and ``_rowid`` filters use) of positions."""
        if self.rowids is not None:
            return self.rowids[np.asarray(positions, dtype=np.int64)]
        return self.rows.addresses(positions)

    # --------------------------------------------------------------------- partitions
    def partition_rows(self, parts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Positions of the given IVF partitions (dead rows included: scans mask them)."""
        starts, lengths = self.partition_ranges(parts)
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64)
        slots = np.concatenate([np.arange(a, a + m, dtype=np.int64)
                                for a, m in zip(starts.tolist(), lengths.tolist(), strict=True)])
        return self.positions_at(slots)

    def partition_ranges(self, parts: npt.NDArray[np.int64]
                         ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Slot ranges ``(starts, lengths)`` holding the given partitions' candidate bits.

        One range per indexed partition, plus one-slot ranges for the rows of those partitions
        appended since the index was built. Without partitions: every slot, in chunks.
        """
        if self.part_order is None or self.part_offsets is None or self.parts is None:
            return self.all_ranges()
        p = np.asarray(parts, dtype=np.int64)
        off = self.part_offsets
        starts, lengths = off[p], off[p + 1] - off[p]
        if self.indexed < self.n:
            tail = self.parts[self.indexed:self.n]
            hit = np.flatnonzero(np.isin(tail, p)).astype(np.int64) + self.indexed
            starts = np.concatenate([starts, hit])
            lengths = np.concatenate([lengths, np.ones(len(hit), dtype=np.int64)])
        return starts, lengths

    def all_ranges(self, chunk: int = 16384
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Every slot as ranges of ``chunk`` (threads share a scan chunk by chunk)."""
        starts = np.arange(0, self.n, chunk, dtype=np.int64)
        return starts, np.minimum(chunk, self.n - starts)

    def slots_of(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Slots (rows of ``bits``) of positions."""
        if self.part_slot is None:
            return np.asarray(positions, dtype=np.int64)
        return map_below(positions, self.part_slot)

    def positions_at(self, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Positions of slots (rows of ``bits``)."""
        if self.part_order is None:
            return np.asarray(slots, dtype=np.int64)
        return map_below(slots, self.part_order)

    # -------------------------------------------------------------------------- codes
    def fetch_codes(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        """Codes of the given positions: from RAM, the local disk cache, or Lance ``take``."""
        pos = np.asarray(positions, dtype=np.int64)
        if self.codes is not None:
            return gather_rows(self.codes, pos)
        if self.disk_cache is not None:
            return self._from_disk_cache(pos)
        return self._take(pos)

    def _take(self, pos: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        return self.take_with(pos, [])[0]

    def take_with(self, positions: npt.NDArray[np.int64], columns: list[str]
                  ) -> tuple[npt.NDArray[np.uint8], pa.Table]:
        """Codes and ``columns`` of the given positions, in one Lance ``take`` by row id.

        Returns:
            ``(codes, table)``, both in the order of ``positions``.

        Raises:
            CorruptDataError: Lance returned other rows than asked (never for live rows).
        """
        pos = np.asarray(positions, dtype=np.int64)
        width = self.codec.code_bytes
        if len(pos) == 0:
            schema = self.dataset.schema
            return np.zeros((0, width), dtype=np.uint8), pa.table(
                {c: pa.array([], schema.field(c).type) for c in columns})
        rid = self.rowids_at(pos)
        order = np.argsort(rid, kind="stable")
        cols = [self.meta.codes_column, *columns, "_rowid"]
        tbl = self.dataset._take_rows(pa.array(rid[order], pa.uint64()), columns=cols)
        got_ids = tbl.column("_rowid").to_numpy().astype(np.uint64)
        if tbl.num_rows != len(pos) or not np.array_equal(got_ids, rid[order]):
            raise CorruptDataError(
                f"table {self.meta_uri()} version {self.version}: take returned {tbl.num_rows}"
                f" rows, not the {len(pos)} live rows asked for")
        got = codes_of(tbl.column(self.meta.codes_column))
        out = np.empty((len(pos), width), dtype=np.uint8)
        out[order] = got
        inverse = np.empty(len(pos), dtype=np.int64)
        inverse[order] = np.arange(len(pos))
        return out, tbl.select(columns).take(pa.array(inverse))

    def _from_disk_cache(self, pos: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        cache = self.disk_cache
        assert cache is not None
        seg = self.rows.segment_of(pos)
        out = np.empty((len(pos), self.codec.code_bytes), dtype=np.uint8)
        for s in np.unique(seg):
            sel = np.flatnonzero(seg == s)
            mm = cache[int(self.rows.infos[s].id)]
            out[sel] = mm[pos[sel] - self.rows.starts[s]]
        return out

    def iter_codes(self, batch_rows: int = 16384
                   ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]:
        """Every live row's codes as ``(positions, codes)`` batches (streamed in disk mode)."""
        if self.codes is not None:
            live = self.live_positions()
            for i in range(0, len(live), batch_rows):
                sel = live[i:i + batch_rows]
                yield sel, self.codes[sel]
            return
        opts = {**SCAN_OPTIONS, "batch_size": batch_rows}
        for batch in self.dataset.to_batches(columns=[self.meta.codes_column],
                                             with_row_address=True, **opts):
            addr = batch.column("_rowaddr").to_numpy().astype(np.uint64)
            pos = self.rows.positions(addr)
            keep = pos >= 0
            yield pos[keep], codes_of(batch.column(self.meta.codes_column))[keep]

    def meta_uri(self) -> str:
        """The dataset URI (for messages)."""
        return str(self.dataset.uri)

    # ---------------------------------------------------------------------- accounting
    def resident_bytes(self) -> int:
        """Bytes of this state's arrays held in RAM (rows in use; see ``docs/search.md``).

        Counted: the codes and integer ids (RAM mode), candidate bits, partitions and their
        index, the alive mask, stable row ids (and their sorted copy), centroids, the tuning
        probes and the fragment map. Spare buffer capacity is never written, hence never
        resident; the disk cache's pages belong to the OS page cache.
        """
        total = 0
        for arr in (self.codes, self.bits, self.parts, self.alive, self.rowids, self.ids):
            if arr is not None:
                total += int(arr[: self.n].nbytes)
        for arr2 in (self.centre, self.centroids, self.part_offsets, self.rows.starts):
            if arr2 is not None:
                total += int(arr2.nbytes)
        for arr4 in (self.part_order, self.part_slot):
            if arr4 is not None:
                total += int(arr4.nbytes)
        for val in list(self.cache.values()):
            for arr3 in val if isinstance(val, tuple) else (val,):
                if isinstance(arr3, np.ndarray):
                    total += int(arr3.nbytes)
        total += 64 * len(self.rows.infos)
        return total
