"""The collections of one database: a folder (or bucket prefix) of compressed tables.

Collection ``NAME`` is the compressed table ``DB/NAME.lance`` (so LanceDB, connected to ``DB``,
sees it as table ``NAME``); the server's own records live in ``DB/_lance_spiral_server``
(:mod:`lance_spiral.server.records`). One table handle per collection is shared by every
request: reads run on one snapshot each, writes to a collection are serialised by its lock here
(and are conditional commits in the table layer, so other processes writing the same table lose
nothing either).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lance_spiral.arrow.sidefiles import filesystem
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError, TableError
from lance_spiral.server.records import SERVER_DIR, CollectionRecords, drop_records, table_names
from lance_spiral.table import CompressedTable, create_table, open_table

__all__ = ["NAME_PATTERN", "Catalog", "Collection"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class Collection:
    """One open collection: its table handle, write lock and records."""

    name: str
    table: CompressedTable
    records: CollectionRecords
    lock: threading.RLock = field(default_factory=threading.RLock)
    refreshed: float = field(default_factory=time.monotonic)


class Catalog:
    """The collections under ``db`` (a local folder or an object-store URI).

    Args:
        db: Database folder or URI (``/data/db``, ``s3://bucket/prefix``).
        storage_options: Lance storage options for object stores (never logged).
        reference_rows: Reference vectors kept per collection for recall measurement.
        refresh_seconds: How stale a shared handle may get before it looks for other writers'
            commits (this process's own writes are visible at once).
        memory: ``"ram"`` (every code resident) or ``"disk"`` (only candidate codes resident,
            re-rank codes read per query): see ``lance_spiral.table.open_table``.
        cache_dir: ``"disk"`` memory only: a local folder caching code columns (for s3://).
    """

    def __init__(self, db: str, *, storage_options: dict[str, str] | None = None,
                 reference_rows: int = 2000, refresh_seconds: float = 1.0,
                 memory: str = "ram", cache_dir: str | None = None) -> None:
        if not isinstance(db, str) or not db.strip():
            raise InvalidInputError("db must be a folder path or a URI")
        if memory not in ("ram", "disk"):
            raise InvalidParameterError(f"memory must be 'ram' or 'disk', got {memory!r}")
        if cache_dir is not None and memory != "disk":
            raise InvalidParameterError("cache_dir is used with memory='disk' only")
        self.memory, self.cache_dir = memory, cache_dir
        if "://" not in db:
            import os

            db = os.path.abspath(os.path.expanduser(db))
            os.makedirs(db, exist_ok=True)
        self.db = db.rstrip("/")
        self.storage_options = dict(storage_options) if storage_options else None
        self.reference_rows = int(reference_rows)
        self.refresh_seconds = float(refresh_seconds)
        self._open: dict[str, Collection] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # storage options may hold keys: never shown
        return f"Catalog({self.db!r})"

    # ------------------------------------------------------------------ naming
    @staticmethod
    def check_name(name: Any) -> str:
        """Return ``name`` if it is a valid collection name.

        Raises:
            InvalidInputError: Not 1-64 letters, digits, ``_`` or ``-`` (starting with a letter
                or digit).
        """
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise InvalidInputError(
                f"bad collection name {name!r}: use 1-64 letters, digits, '_' or '-',"
                " starting with a letter or digit")
        return name

    def table_uri(self, name: str) -> str:
        """URI of collection ``name``'s table."""
        return f"{self.db}/{self.check_name(name)}.lance"

    def _opts(self) -> dict[str, Any]:
        return {"storage_options": self.storage_options} if self.storage_options else {}

    def _table_opts(self) -> dict[str, Any]:
        return {**self._opts(), "memory": self.memory, "cache_dir": self.cache_dir}

    def _records(self, name: str) -> CollectionRecords:
        return CollectionRecords(f"{self.db}/{SERVER_DIR}", name,
                                 storage_options=self.storage_options, cap=self.reference_rows)

    # ----------------------------------------------------------------- listing
    def names(self) -> list[str]:
        """Names of the collections, sorted."""
        import lancedb

        db = lancedb.connect(self.db, **self._opts())
        return sorted(n for n in table_names(db) if NAME_PATTERN.match(n))

    # ------------------------------------------------------------ open, create
    def get(self, name: str) -> Collection:
        """The open collection ``name`` (its handle refreshed when older than the interval).

        Raises:
            NotFoundError: No such collection.
        """
        self.check_name(name)
        with self._lock:
            col = self._open.get(name)
        if col is None:
            try:
                table = open_table(self.table_uri(name), **self._table_opts())
            except NotFoundError:
                raise NotFoundError(f"unknown collection {name!r}") from None
            with self._lock:
                col = self._open.setdefault(
                    name, Collection(name=name, table=table, records=self._records(name)))
            return col
        # A writer holding the lock leaves the handle at its own commit: readers never wait.
        if time.monotonic() - col.refreshed > self.refresh_seconds and \
                col.lock.acquire(blocking=False):
            try:
                col.table.refresh()
                col.refreshed = time.monotonic()
            except (NotFoundError, ValueError, OSError):
                with self._lock:
                    self._open.pop(name, None)
                raise NotFoundError(f"unknown collection {name!r}") from None
            finally:
                col.lock.release()
        return col

    def create(self, name: str, *, dim: int, metric: str = "cosine", codec: str = "sq:bits=8",
               mode: str = "compressed") -> Collection:
        """Create an empty collection (vector width ``dim``).

        Raises:
            TableError: A collection of that name exists.
            InvalidParameterError: Bad dim, metric, codec or mode.
        """
        uri = self.table_uri(name)
        if name in self.names():
            raise TableError(f"collection {name!r} already exists")
        table = create_table(uri, dim=dim, metric=metric, codec=codec, mode=mode,
                             progress=False, **self._opts())
        if self.memory != "ram":
            table = open_table(uri, **self._table_opts())
        col = Collection(name=name, table=table, records=self._records(name))
        with self._lock:
            self._open[name] = col
        return col

    def drop(self, name: str) -> None:
        """Delete collection ``name`` with its records.

        Raises:
            NotFoundError: No such collection.
        """
        import lancedb

        self.check_name(name)
        if name not in self.names():
            raise NotFoundError(f"unknown collection {name!r}")
        with self._lock:
            col = self._open.pop(name, None)
        lock = col.lock if col is not None else threading.RLock()
        with lock:
            lancedb.connect(self.db, **self._opts()).drop_table(name)
            # object stores keep "directory" marker objects that would still list the name
            fs, path = filesystem(self.table_uri(name), self.storage_options)
            with contextlib.suppress(FileNotFoundError, OSError):
                fs.delete_dir(path)
            drop_records(self.db, name, self.storage_options)
