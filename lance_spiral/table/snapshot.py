"""One version of a table, taken once per query: dataset, metadata, side files and hot state.

A query reads row positions from the hot state and payload from the dataset; both must belong to
the same version, or hits are paired with the wrong rows when another thread commits in between.
A :class:`Snapshot` holds them together and never changes: the state's positions map to Lance
row ids of that version (:meth:`HotState.rowids_at`), and the payload is fetched by row id from
the snapshot's own dataset, never by a position that a later delete could shift.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import lance

from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.state import HotState

__all__ = ["Snapshot", "list_indices"]


def list_indices(ds: lance.LanceDataset) -> list[dict[str, Any]]:
    """The dataset's indexes as plain dicts (``name``, ``type``, ``fields``...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [dict(i) for i in ds.list_indices()]  # type: ignore[call-overload]


@dataclass(frozen=True)
class Snapshot:
    """A table version's parts, consistent with each other.

    Attributes:
        uri: The table URI.
        dataset: The Lance dataset at this version.
        meta: The table metadata of this version.
        side: The table's side-file store.
        state: The version's hot state (``None`` while the table has no codec or rows).
    """

    uri: str
    dataset: lance.LanceDataset
    meta: TableMeta
    side: SideStore
    state: HotState | None

    @property
    def version(self) -> int:
        """The Lance version."""
        return int(self.dataset.version)

    def has_vector_index(self) -> bool:
        """Whether the float column has a Lance vector index (alongside mode); cached per state."""
        if self.state is not None and "has_index" in self.state.cache:
            return bool(self.state.cache["has_index"])
        found = self.meta.mode == "alongside" and any(
            self.meta.vector_column in idx.get("fields", []) for idx in list_indices(self.dataset))
        if self.state is not None:
            self.state.cache["has_index"] = found
        return found
