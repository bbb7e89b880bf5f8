"""Hot search state of one table version: codes, candidate bits and partitions as numpy arrays.

Loaded once per version (one scan of the code columns, no payload), then every query runs on
these arrays and only the final rows' payload is fetched from Lance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lance
import numpy as np
import numpy.typing as npt

from lance_spiral.arrow import codes_of
from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.codecs import Codec
from lance_spiral.table.meta import TableMeta

__all__ = ["HotState", "load_state"]


@dataclass
class HotState:
    """In-memory arrays of one table version (row ``i`` = the ``i``-th visible row)."""

    version: int
    codec: Codec
    codes: npt.NDArray[np.uint8]
    rowids: npt.NDArray[np.uint64]
    bits: npt.NDArray[np.uint64] | None = None
    centre: npt.NDArray[np.float32] | None = None
    centroids: npt.NDArray[np.float32] | None = None
    part_order: npt.NDArray[np.int64] | None = None
    part_offsets: npt.NDArray[np.int64] | None = None
    tuned: dict[Any, Any] = field(default_factory=dict)
    _rowid_sort: npt.NDArray[np.int64] | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.codes.shape[0])

    def positions_of(self, rowids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Map Lance row ids to row positions (unknown ids are dropped)."""
        if self._rowid_sort is None:
            self._rowid_sort = np.argsort(self.rowids, kind="stable")
        srt = self.rowids[self._rowid_sort]
        rid = np.asarray(rowids, dtype=np.uint64)
        idx = np.searchsorted(srt, rid)
        idx = np.minimum(idx, max(len(srt) - 1, 0))
        ok = srt[idx] == rid if len(srt) else np.zeros(len(rid), dtype=bool)
        return np.asarray(self._rowid_sort[idx[ok]], dtype=np.int64)

    def partition_rows(self, parts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row positions of the given IVF partitions, concatenated."""
        if self.part_order is None or self.part_offsets is None:
            return np.arange(self.n, dtype=np.int64)
        off = self.part_offsets
        pieces = [self.part_order[off[p]:off[p + 1]] for p in parts]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


def load_state(ds: lance.LanceDataset, meta: TableMeta, side: SideStore) -> HotState:
    """Read the code columns of ``ds`` into a :class:`HotState`."""
    if meta.codec_file is None:
        raise ValueError("table has no codec yet")
    codec = side.get_codec(meta.codec_file)
    cols = [meta.codes_column]
    compressed = meta.mode == "compressed"
    if compressed:
        cols += [meta.bits_column, meta.partition_column]
    tbl = ds.to_table(columns=cols, with_row_id=True)
    codes = np.ascontiguousarray(codes_of(tbl.column(meta.codes_column)))
    rowids = tbl.column("_rowid").to_numpy().astype(np.uint64)
    state = HotState(version=ds.version, codec=codec, codes=codes, rowids=rowids)
    if compressed:
        bits8 = np.ascontiguousarray(codes_of(tbl.column(meta.bits_column)))
        state.bits = bits8.view(np.uint64) if len(bits8) else bits8.astype(np.uint64)
        if meta.aux_file is not None:
            aux = side.get_arrays(meta.aux_file)
            state.centre = aux["centre"].astype(np.float32)
            if meta.nlist > 0 and "centroids" in aux:
                state.centroids = aux["centroids"].astype(np.float32)
                parts = tbl.column(meta.partition_column).to_numpy().astype(np.int64)
                order = np.argsort(parts, kind="stable")
                counts = np.bincount(parts, minlength=meta.nlist)
                state.part_order = order.astype(np.int64)
                state.part_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return state
