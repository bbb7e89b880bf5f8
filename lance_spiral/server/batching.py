"""Group commit: adds to one collection that wait for its write lock go into one Lance commit.

Under concurrent clients every add would otherwise be its own commit, each paying the id check,
a fragment write and a manifest commit in turn while the others queue. Here an add joins the
collection's queue and waits for the lock; whoever gets the lock commits everything queued so
far in one ``CompressedTable.add`` and hands each request its own outcome. Each request's rows
are checked on their own first (columns, types, ids already taken or taken by another request of
the group), so one bad request fails alone; if the group's commit itself is refused, every
request is retried on its own so that each gets its own answer. A request is acknowledged only
after the commit holding its rows has landed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.errors import LanceSpiralError, TableError
from lance_spiral.server.catalog import Collection
from lance_spiral.server.rows import build_rows

__all__ = ["AddBatcher", "PendingAdd"]

log = logging.getLogger("lance_spiral.server")


@dataclass
class PendingAdd:
    """One add request: validated ids and vectors, texts and metadata still to be laid out."""

    ids: list[Any]
    vectors: npt.NDArray[np.float32]
    texts: Sequence[str | None] | None
    metadata: Sequence[Any] | None
    check_taken: bool
    done: bool = False
    version: int = 0
    error: BaseException | None = None
    batch: pa.Table | None = field(default=None, repr=False)


class AddBatcher:
    """The add queue of one collection.

    Args:
        col: The collection (its lock serialises the commits).
        after_commit: Called under the lock after each commit with the committed requests.
    """

    def __init__(self, col: Collection,
                 after_commit: Callable[[list[PendingAdd]], None]) -> None:
        self._col = col
        self._after = after_commit
        self._queue: list[PendingAdd] = []
        self._queue_lock = threading.Lock()

    def submit(self, p: PendingAdd) -> int:
        """Add ``p``'s rows (maybe with other requests' in one commit); returns the version.

        Raises:
            LanceSpiralError: ``p``'s rows were refused (nothing of them written).
        """
        with self._queue_lock:
            self._queue.append(p)
        with self._col.lock:
            if not p.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit(group)
        if p.error is not None:
            raise p.error
        return p.version

    def _fail(self, p: PendingAdd, exc: BaseException) -> None:
        p.error, p.done = exc, True

    def _prepare(self, group: list[PendingAdd]) -> list[PendingAdd]:
        t = self._col.table
        id_col = t.meta.id_column
        ready: list[PendingAdd] = []
        seen: set[Any] = set()
        for p in group:
            try:
                p.batch = build_rows(t, p.ids, p.vectors, p.texts, p.metadata)
            except LanceSpiralError as exc:
                self._fail(p, exc)
                continue
            twice = [i for i in p.ids if i in seen]
            if twice:
                self._fail(p, TableError(
                    f"ids already in collection {self._col.name!r}: {twice[:10]}"
                    " (added by a concurrent request)"))
                continue
            seen.update(p.ids)
            ready.append(p)
        wanted = [i for p in ready if p.check_taken for i in p.ids]
        if wanted and t.count_rows() > 0 and t.count_rows(filter={id_col: {"$in": wanted}}):
            taken = set(t.get(wanted).column(id_col).to_pylist())
            for p in ready:
                hit = [i for i in p.ids if i in taken]
                if hit:
                    self._fail(p, TableError(
                        f"ids already in collection {self._col.name!r}: {hit[:10]}"
                        " (delete them first, or use new ids)"))
            ready = [p for p in ready if not p.done]
        return ready

    def _commit(self, group: list[PendingAdd]) -> None:
        try:
            ready = self._prepare(group)
            if not ready:
                return
            t = self._col.table
            try:
                batch = pa.concat_tables([p.batch for p in ready if p.batch is not None],
                                         promote_options="default")
                written = t.add(batch) if len(ready) > 1 else None
            except (pa.ArrowInvalid, pa.ArrowTypeError, LanceSpiralError):
                written = None
            if written is None:  # one request, or the group refused as a whole: one by one
                for p in ready:
                    self._commit_one(p)
                return
            if written != batch.num_rows:
                raise TableError(f"wrote {written} rows of {batch.num_rows}")
            for p in ready:
                p.version, p.done = t.version, True
            self._after_commit(ready)
        except BaseException as exc:  # the group's requests get it, each in its own thread
            for p in group:
                if not p.done:
                    self._fail(p, exc)

    def _commit_one(self, p: PendingAdd) -> None:
        t = self._col.table
        try:
            batch = build_rows(t, p.ids, p.vectors, p.texts, p.metadata)
            t.add(batch)
        except LanceSpiralError as exc:
            self._fail(p, exc)
            return
        p.version, p.done = t.version, True
        self._after_commit([p])

    def _after_commit(self, done: list[PendingAdd]) -> None:
        """The commit landed: what follows (reference sample, compaction) cannot undo it."""
        try:
            self._after(done)
        except Exception:
            log.warning("after adding to %s: bookkeeping failed (the rows are committed)",
                        self._col.name, exc_info=True)
