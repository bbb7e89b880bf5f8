"""One shard of a sharded table, served inside a Ray actor.

A shard is a group of fragments of one table version (or a whole table). It holds the hot search
state of its own fragments only (the table's :class:`~lance_spiral.table.hotload.StateCache`,
given a view of the dataset that lists just those fragments) and answers a query with the
table's own search (:class:`~lance_spiral.table.query.Query`: filters, auto-tuned depth, memory
modes), so a shard returns exactly what the table's search returns over its rows. Payload is
read by row id from the full dataset of the same version.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import lance
import pyarrow as pa

from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.kernels.threads import numba_threads
from lance_spiral.table import Query, Snapshot, open_table
from lance_spiral.table.hotload import StateCache

__all__ = ["FragmentView", "ServedShard", "ShardServer", "assign_fragments"]


class FragmentView:
    """A Lance dataset seen through a subset of its fragments (for the state loader).

    ``get_fragments`` lists only the shard's fragments; everything else (version, scans of
    given fragments, takes by row address) is the dataset's own.
    """

    def __init__(self, ds: lance.LanceDataset, fragments: Iterable[int]) -> None:
        self._ds = ds
        self._ids = frozenset(int(f) for f in fragments)

    def get_fragments(self, *args: Any, **kwargs: Any) -> list[Any]:
        """The shard's fragments of this version."""
        return [f for f in self._ds.get_fragments(*args, **kwargs)
                if f.fragment_id in self._ids]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)


def assign_fragments(fragments: list[tuple[int, int]], shards: int,
                     previous: dict[int, int] | None = None) -> list[list[int]]:
    """Fragment ids per shard, balanced by rows; fragments keep the shard they had before.

    Args:
        fragments: ``(fragment id, rows)`` of the version.
        shards: Number of shards.
        previous: Fragment id -> shard of an earlier assignment (appends keep it stable).

    Returns:
        ``shards`` lists of fragment ids (ascending).
    """
    load = [0] * shards
    out: list[list[int]] = [[] for _ in range(shards)]
    prev = previous or {}
    fresh = []
    for fid, rows in fragments:
        s = prev.get(fid)
        if s is not None and 0 <= s < shards:
            out[s].append(fid)
            load[s] += rows
        else:
            fresh.append((fid, rows))
    for fid, rows in sorted(fresh, key=lambda fr: (-fr[1], fr[0])):
        s = min(range(shards), key=lambda i: (load[i], i))
        out[s].append(fid)
        load[s] += rows
    return [sorted(group) for group in out]


def _assigned_cpus() -> int:
    """CPUs Ray gave this actor (its kernels use that many threads; all cores outside Ray)."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except (ImportError, RuntimeError, AttributeError):
        cpus = None
    return max(1, int(cpus)) if cpus else (os.cpu_count() or 1)


class ServedShard:
    """What :class:`~lance_spiral.table.query.Query` needs from a table, for one shard."""

    def __init__(self, uri: str, fragments: list[int] | None, version: int | None,
                 storage_options: dict[str, str] | None, memory: str) -> None:
        self.table = open_table(uri, version=version, memory=memory,
                                storage_options=storage_options)
        self.uri = uri
        self.meta = self.table.meta
        self.fragments = fragments
        self.states = StateCache(SideStore(uri, storage_options=storage_options), memory=memory)

    @property
    def schema(self) -> pa.Schema:
        """The table schema."""
        return self.table.schema

    def snapshot(self) -> Snapshot:
        """The shard's version: full dataset, and the hot state of the shard's fragments."""
        ds, meta = self.table.dataset, self.table.meta
        view: Any = ds if self.fragments is None else FragmentView(ds, self.fragments)
        state = None if meta.codec_file is None else self.states.get(view, meta)
        return Snapshot(uri=self.uri, dataset=ds, meta=meta, side=self.states.side, state=state)


class ShardServer:
    """The Ray actor class (wrapped with ``ray.remote`` by the driver).

    Args:
        uri: Table URI.
        fragments: Fragment ids of this shard (``None``: the whole table).
        version: Version to serve (``None``: the latest at start).
        storage_options: Lance storage options.
        memory: ``"ram"`` or ``"disk"`` (see :func:`lance_spiral.table.open_table`).
    """

    def __init__(self, uri: str, fragments: list[int] | None, version: int | None,
                 storage_options: dict[str, str] | None, memory: str = "ram") -> None:
        self._args = (uri, storage_options, memory)
        self._shard = ServedShard(uri, fragments, version, storage_options, memory)
        self._cpus = _assigned_cpus()

    def move(self, version: int | None, fragments: list[int] | None) -> int:
        """Serve ``version`` (latest when None) with these fragments; returns the version.

        The hot state of the new version is derived incrementally from the current one.
        """
        uri, opts, memory = self._args
        table = open_table(uri, version=version, memory=memory, storage_options=opts)
        self._shard.table, self._shard.meta = table, table.meta
        self._shard.fragments = fragments
        return table.version

    def load(self) -> dict[str, int]:
        """Build the hot state now; ``{"version", "rows", "resident_bytes", "rss_bytes"}``.

        ``rss_bytes`` is the actor process's resident set (``0`` where ``/proc`` is absent).
        """
        snap = self._shard.snapshot()
        st = snap.state
        return {"version": snap.version, "rows": 0 if st is None else st.n_live,
                "resident_bytes": 0 if st is None else st.resident_bytes(),
                "rss_bytes": _rss_bytes()}

    def search(self, query: Any, ops: list[tuple[str, tuple[Any, ...], dict[str, Any]]]
               ) -> pa.Table:
        """Run the table's query over this shard: ``ops`` are the builder calls to replay."""
        q = Query(self._shard, query)
        for name, args, kwargs in ops:
            getattr(q, name)(*args, **kwargs)
        with numba_threads(self._cpus):
            return q.to_arrow()

    def count_rows(self, sql: str | None) -> int:
        """Rows of the shard's fragments matching ``sql`` (all when None)."""
        snap = self._shard.snapshot()
        frags = None if self._shard.fragments is None else [
            f for f in snap.dataset.get_fragments() if f.fragment_id in self._shard.fragments]
        if frags is not None and not frags:
            return 0
        return int(snap.dataset.scanner(columns=[], filter=sql, fragments=frags,
                                        with_row_address=True).count_rows())


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
