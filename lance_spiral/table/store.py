"""Append-only row buffers of a table handle's hot states (see :mod:`.hotload`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Layout", "Store", "map_below", "slots_in"]

Layout = tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]


def map_below(values: npt.NDArray[np.int64], table: npt.NDArray[np.int32]
              ) -> npt.NDArray[np.int64]:
    """``table[v]`` for the values below ``len(table)``, the others unchanged.

    The slot <-> position maps of the candidate bits: rows below the partition index's size are
    permuted, later ones are where they were appended.
    """
    v = np.asarray(values, dtype=np.int64)
    if len(table) == 0:
        return v
    low = v < len(table)
    return np.where(low, table[np.where(low, v, 0)], v).astype(np.int64)


def slots_in(layout: Layout | None, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rows of a store's ``bits`` buffer holding ``positions`` (see :class:`Store`)."""
    if layout is None:
        return np.asarray(positions, dtype=np.int64)
    return map_below(positions, layout[1])


class Store:
    """Append-only arrays with a common row count, shared by the successive states of a handle.

    Rows below ``used`` are never rewritten; a state whose ``n`` equals ``used`` may extend the
    store in place (other states never read past their own ``n``), any other state copies.
    Every array is indexed by position except ``bits``, whose rows below ``len(layout[0])``
    are in partition order (``layout = (order, slot)``: row ``s`` holds position
    ``order[s]``, position ``p`` sits in row ``slot[p]``); a store laid out anew is a new
    store, so states already using the old one never see their rows move.
    """

    def __init__(self, specs: dict[str, tuple[tuple[int, ...], Any]], cap: int) -> None:
        self.specs = specs
        self.arrays = {k: np.zeros((cap, *shape), dtype=dt) for k, (shape, dt) in specs.items()}
        self.cap = cap
        self.used = 0
        self.layout: Layout | None = None
        self.frozen = False

    def reserve(self, base_n: int, extra: int) -> Store:
        """A store whose rows below ``base_n`` equal this one's, with ``extra`` rows to write."""
        need = base_n + extra
        if base_n == self.used and need <= self.cap and not self.frozen:
            self.used = need
            return self
        new = Store(self.specs, max(2 * need, 1024))
        for k, arr in self.arrays.items():
            new.arrays[k][:base_n] = arr[:base_n]
        new.used = need
        new.layout = self.layout
        return new

    def lay_out(self, order: npt.NDArray[np.int32], n: int, fresh: bool) -> Store:
        """This store with ``bits[:n]`` in the row order ``order`` (positions).

        ``fresh``: no state uses this store yet, so its buffer is rewritten in place; otherwise
        a new store shares the other (position-indexed) buffers, gets a new ``bits`` buffer, and
        this one is frozen (never extended again, so the sharing is read-only).
        """
        src = slots_in(self.layout, order.astype(np.int64))
        target = self
        if not fresh and "bits" in self.arrays:
            target = Store({}, 0)
            target.specs, target.cap, target.used = self.specs, self.cap, self.used
            target.arrays = dict(self.arrays)
            target.arrays["bits"] = np.empty_like(self.arrays["bits"])
            target.arrays["bits"][n:self.used] = self.arrays["bits"][n:self.used]
            self.frozen = True
        if "bits" in self.arrays:
            target.arrays["bits"][:n] = self.arrays["bits"][src]
        slot = np.empty(n, dtype=np.int32)
        slot[order] = np.arange(n, dtype=np.int32)
        target.layout = (order, slot)
        return target
