"""The cache's disk tier (L3): a Lance table of exact float32 vectors keyed by text hash.

One table per model key, columns ``model``, ``text_sha256`` (hex) and ``vector``. New entries are
buffered and appended in batches, so a crash loses at most the unflushed buffer, never the table.

Several processes may share the folder. Every flush first writes its data files, then commits
them: an ``Append`` built on the version it read (Lance rebases concurrent appends onto each
other), or, while the table has no version yet, the ``Overwrite`` that creates it. Lance does not
make a create conditional (``mode="create"``, or an ``Overwrite`` commit, lands on top of a table
another process created meanwhile and drops its rows), so the create is decided under an
exclusive ``flock`` on a lock file next to the table: the process holding it checks again that
no version exists before creating; the others then find the table and append. The kernel
releases a dead process's lock. Duplicate keys (two processes writing the same text) are
harmless: reads keep the first row.

Recovery: a table folder without any committed version is treated as empty, and the next flush
creates the table over it (the orphan data files are ignored). Flushes hold a shared ``flock`` on
a lock file next to the table while they write, and the kernel drops it when a process dies: a
folder without a version that nobody holds the lock on is a first flush killed before its commit,
and the cache says so in a warning (one still being written is not reported). A table that Lance
cannot open or read (after retries under the create lock, so that a read racing a commit is not
taken for damage) is moved aside to ``<name>.lance.broken-<ns>`` with a warning, and the cache
starts a fresh one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from lance_spiral.errors import DimensionError, InvalidInputError, TableError

if TYPE_CHECKING:
    import lance

try:
    import fcntl
except ImportError:  # not POSIX: no way to tell an interrupted first flush from a running one
    fcntl = None  # type: ignore[assignment]

__all__ = ["DiskTier", "text_key"]

_LOOKUP_CHUNK = 1000
_COMMIT_ATTEMPTS = 30
_RECOVER_TRIES = 3
_MANIFEST = re.compile(r"\d+\.manifest")
T = TypeVar("T")


def text_key(text: str) -> bytes:
    """SHA-256 digest of the UTF-8 text: the cache key."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class DiskTier:
    """Buffered Lance table of ``(model, text_sha256, vector)`` rows under ``folder``.

    Args:
        model: The model key (one table per key).
        folder: Folder of the tables (created if missing).
        flush_rows: Buffered entries that trigger an append.
    """

    def __init__(self, model: str, folder: str | Path, *, flush_rows: int) -> None:
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[:80]
        digest = hashlib.sha256(model.encode()).hexdigest()[:10]
        self.model = model
        self.uri = str(root / f"{slug}-{digest}.lance")
        self._lock_path = root / f".{slug}-{digest}.flush.lock"
        self._create_lock_path = root / f".{slug}-{digest}.create.lock"
        self.flush_rows = flush_rows
        self.rows_written = 0
        self.appends = 0
        self._pending: OrderedDict[bytes, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.RLock()
        self._warned_uncommitted = False
        self._held = threading.local()

    @property
    def pending(self) -> int:
        """Entries buffered but not yet written."""
        with self._lock:
            return len(self._pending)

    def dim(self) -> int | None:
        """Width of the stored vectors (``None`` while the table does not exist)."""
        import pyarrow as pa

        ds = self._open()
        if ds is None:
            return None
        field = ds.schema.field("vector")
        if not pa.types.is_fixed_size_list(field.type):
            raise InvalidInputError(f"L3 table {self.uri} has a bad vector column: {field.type}")
        return int(field.type.list_size)

    def lookup(self, keys: list[bytes]) -> dict[bytes, npt.NDArray[np.float32]]:
        """Vectors of the keys found (buffered entries included)."""
        hits: dict[bytes, npt.NDArray[np.float32]] = {}
        with self._lock:
            for k in keys:
                v = self._pending.get(k)
                if v is not None:
                    hits[k] = v
        todo = [k for k in keys if k not in hits]
        ds = self._open() if todo else None
        if ds is None:
            return hits
        for start in range(0, len(todo), _LOOKUP_CHUNK):
            chunk = todo[start:start + _LOOKUP_CHUNK]
            try:
                found = _read_keys(ds, chunk)
            except (OSError, ValueError) as exc:  # unreadable data: a miss (moved aside if real)
                again = self._recover(exc, functools.partial(self._read_latest, chunk))
                if again is None:
                    return hits
                found = again
            for k, v in found.items():
                hits.setdefault(k, v)
        return hits

    def put(self, pairs: list[tuple[bytes, npt.NDArray[np.float32]]], dim: int) -> None:
        """Buffer entries; append them once ``flush_rows`` are waiting."""
        with self._lock:
            for k, v in pairs:
                self._pending[k] = v
            if len(self._pending) >= self.flush_rows:
                self.flush(dim)

    def flush(self, dim: int | None) -> int:
        """Write the buffer in one conditional commit; returns the rows this call wrote.

        Raises:
            DimensionError: The table on disk holds vectors of another width.
            TableError: No commit succeeded after repeated conflicts.
        """
        import pyarrow as pa

        with self._lock:
            if not self._pending or dim is None:
                return 0
            keys = list(self._pending)
            mat = np.stack([self._pending[k] for k in keys]).astype(np.float32, copy=False)
            vec = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1), pa.float32()), dim)
            table = pa.table({
                "model": pa.array([self.model] * len(keys), pa.string()),
                "text_sha256": pa.array([k.hex() for k in keys], pa.string()),
                "vector": vec,
            })
            self._commit(table)
            self._pending.clear()
            self.rows_written += len(keys)
            self.appends += 1
            return len(keys)

    def optimize(self, dim: int | None) -> None:
        """Flush, compact the table's fragments and (re)build a BTREE index on the key."""
        with self._lock:
            self.flush(dim)
            ds = self._open()
            if ds is None:
                return
            ds.optimize.compact_files()
            ds = self._open()
            if ds is not None:
                ds.create_scalar_index("text_sha256", "BTREE", replace=True)

    # -- commits and recovery ----------------------------------------------------------------

    def _commit(self, table: Any) -> None:
        """Write ``table``'s data files, then commit them (create or append), retrying races."""
        with self._flushing():
            self._commit_files(table)

    def _commit_files(self, table: Any) -> None:
        import lance

        self._check_width(self._open(), table)
        frags = lance.fragment.write_fragments(table, self.uri, schema=table.schema)
        last: BaseException | None = None
        for attempt in range(_COMMIT_ATTEMPTS):
            ds = self._open()
            if not self._files_present(frags):  # the folder was moved aside meanwhile
                frags = lance.fragment.write_fragments(table, self.uri, schema=table.schema)
            try:
                if ds is None:
                    with self._creating():
                        if self._open() is None:  # still none: this process creates it
                            op = lance.LanceOperation.Overwrite(table.schema, frags)
                            lance.LanceDataset.commit(self.uri, op, max_retries=0)
                            return
                    continue  # another process created it meanwhile: append to it
                self._check_width(ds, table)
                lance.LanceDataset.commit(self.uri, lance.LanceOperation.Append(frags),
                                          read_version=ds.version)
                return
            except (OSError, ValueError) as exc:
                if isinstance(exc, DimensionError):
                    raise
                last = exc  # another process created or changed the table first: read again
                time.sleep(random.uniform(0.0, 0.005 * (attempt + 1)))
        raise TableError(
            f"could not commit {table.num_rows} rows to the L3 table {self.uri} after"
            f" {_COMMIT_ATTEMPTS} attempts: {last}")

    def _check_width(self, ds: lance.LanceDataset | None, table: Any) -> None:
        want = table.schema.field("vector").type
        if ds is not None and ds.schema.field("vector").type != want:
            raise DimensionError(
                f"L3 table {self.uri} stores {ds.schema.field('vector').type}, the cache"
                f" writes {want}")

    def _files_present(self, frags: list[Any]) -> bool:
        data = Path(self.uri) / "data"
        return all((data / f.path).exists() for frag in frags for f in frag.files)

    def _open(self) -> lance.LanceDataset | None:
        """The table's latest version; None while it has no committed version."""
        if not Path(self.uri).exists():
            return None
        try:
            return self._latest()
        except (OSError, ValueError) as exc:
            if not _has_version(self.uri):
                if not self._warned_uncommitted and not self._someone_flushing():
                    self._warned_uncommitted = True
                    warnings.warn(
                        f"L3 cache table {self.uri} has data files but no committed version:"
                        " its first flush was interrupted; treated as empty, the next flush"
                        " rebuilds it", RuntimeWarning, stacklevel=4)
                return None
            return self._recover(exc, self._latest)

    def _read_latest(self, keys: list[bytes]) -> dict[bytes, npt.NDArray[np.float32]]:
        return _read_keys(self._latest(), keys)

    def _latest(self) -> lance.LanceDataset:
        import lance

        return lance.dataset(self.uri)

    def _flushing(self) -> contextlib.AbstractContextManager[None]:
        """Hold the shared flush lock (other processes' flushes may hold it too)."""
        return _flock(self._lock_path, shared=True)

    @contextlib.contextmanager
    def _creating(self) -> Iterator[None]:
        """Hold the exclusive create lock (re-entrant within this tier, per thread)."""
        if getattr(self._held, "create", False):
            yield
            return
        with _flock(self._create_lock_path, shared=False):
            self._held.create = True
            try:
                yield
            finally:
                self._held.create = False

    def _someone_flushing(self) -> bool:
        """Whether a flush (of any process, this one included) holds the flush lock now."""
        if fcntl is None:
            return False
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _recover(self, exc: BaseException, probe: Callable[[], T]) -> T | None:
        """After a failed read: ``probe()``'s result if a retry reads, else move the table aside.

        Retries run under the create lock (so never against a table being created) a few times
        apart, so that a read racing another process's commit is not taken for damage. A table
        that still fails is renamed ``<name>.broken-<ns>`` (kept for a person to look at) and the
        cache starts an empty one, with a warning naming both.
        """
        with self._creating():
            for _ in range(_RECOVER_TRIES):
                try:
                    return probe()
                except FileNotFoundError:
                    return None
                except (OSError, ValueError) as err:
                    if not Path(self.uri).exists():  # another process moved it aside already
                        return None
                    exc = err
                    time.sleep(0.05)
            aside = f"{self.uri}.broken-{time.time_ns()}"
            try:
                os.replace(self.uri, aside)
            except FileNotFoundError:
                return None
            except OSError as err:
                raise TableError(
                    f"L3 cache table {self.uri} is unreadable ({exc}) and could not be moved"
                    f" aside: {err}") from exc
        warnings.warn(
            f"L3 cache table {self.uri} could not be read ({exc}); moved aside to {aside} and"
            " rebuilt from empty", RuntimeWarning, stacklevel=4)
        return None

@contextlib.contextmanager
def _flock(path: Path, *, shared: bool) -> Iterator[None]:
    """Hold an ``flock`` on ``path`` (created if missing); the kernel drops it if we die."""
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _has_version(uri: str) -> bool:
    """Whether a committed manifest (``_versions/<digits>.manifest``) exists."""
    versions = Path(uri) / "_versions"
    return versions.is_dir() and any(
        _MANIFEST.fullmatch(p.name) for p in versions.iterdir())


def _read_keys(ds: lance.LanceDataset, keys: list[bytes]) -> dict[bytes, npt.NDArray[np.float32]]:
    """Vectors stored for ``keys`` (the first row of a duplicated key)."""
    in_list = ", ".join(f"'{k.hex()}'" for k in keys)
    tbl = ds.to_table(columns=["text_sha256", "vector"], filter=f"text_sha256 IN ({in_list})")
    out: dict[bytes, npt.NDArray[np.float32]] = {}
    if tbl.num_rows == 0:
        return out
    flat = tbl.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    mat = np.asarray(flat, dtype=np.float32).reshape(tbl.num_rows, -1)
    for row, h in enumerate(tbl.column("text_sha256").to_pylist()):
        out.setdefault(bytes.fromhex(h), mat[row].copy())
    return out
