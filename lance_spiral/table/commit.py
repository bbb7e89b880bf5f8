"""Conditional Lance commits, and the retry loop every table write runs in.

Every write is built from one table version ``V`` and committed with ``read_version=V``:

* appends, deletes, updates and upserts commit Lance ``Append`` / ``Delete`` / ``Update``
  transactions, which Lance rebases over compatible concurrent commits (appends with appends,
  deletes of other rows) and refuses over incompatible ones (an ``Overwrite`` or ``Restore``
  committed since ``V``: a refit, a requantize, a restore -- the codec of the rows may have
  changed);
* writes that re-encode the whole table (the first fill, the small-table refit, ``requantize``)
  commit an ``Overwrite`` with ``max_retries=0``: Lance then writes version ``V + 1`` only if it
  does not exist yet (an atomic put-if-not-exists of the manifest), so the commit fails if
  *anything* was committed since ``V`` instead of silently replacing it.

A refused commit raises :class:`WriteConflictError`; :func:`retrying` then rebuilds the write
from the latest version (re-reading the input, see :class:`lance_spiral.table.ingest.RowSource`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import lance
import pyarrow as pa
from lance import LanceDataset, LanceOperation
from lance.commit import CommitConflictError
from lance.fragment import FragmentMetadata, write_fragments

from lance_spiral.arrow.sidefiles import SideStore
from lance_spiral.errors import NotFoundError, TableError
from lance_spiral.table.integrity import manifest_error

__all__ = [
    "MAX_ATTEMPTS",
    "Target",
    "WriteConflictError",
    "commit_append",
    "commit_overwrite",
    "retrying",
    "write_fragment_files",
]

MAX_ATTEMPTS = 64
_T = TypeVar("_T")


class WriteConflictError(Exception):
    """Another writer committed since the version a write was built from (internal)."""


@dataclass
class Target:
    """Where a table lives: its URI, the Lance storage options and its side-file store.

    ``storage_options`` may hold secrets: it is never printed (``repr=False``).
    """

    uri: str
    storage_options: dict[str, str] | None = field(default=None, repr=False)
    side: SideStore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.side = SideStore(self.uri, storage_options=self.storage_options)

    def open(self, version: int | None = None) -> LanceDataset:
        """The dataset at ``version`` (latest when None).

        Raises:
            NotFoundError: No dataset there (or no such version).
            CorruptDataError: The manifest to read is truncated or corrupt (named).
        """
        try:
            return lance.dataset(self.uri, version=version,
                                 storage_options=self.storage_options)
        except (ValueError, OSError) as exc:
            raise manifest_error(exc, self.uri, version, self.storage_options) from exc
        except BaseException as exc:
            if type(exc).__name__ == "PanicException":  # Lance panics on some corrupt manifests
                raise manifest_error(exc, self.uri, version, self.storage_options) from exc
            raise

    def exists(self) -> bool:
        """Whether a committed dataset is at the URI."""
        try:
            self.open()
        except NotFoundError:
            return False
        return True


def write_fragment_files(reader: pa.RecordBatchReader, target: Target, schema: pa.Schema,
                         *, append: bool) -> list[FragmentMetadata]:
    """Write data files for ``reader`` (uncommitted: invisible until a commit names them)."""
    return write_fragments(reader, target.uri, schema=schema,
                           mode="append" if append else "overwrite",
                           storage_options=target.storage_options)


def commit_overwrite(target: Target, schema: pa.Schema, fragments: list[FragmentMetadata],
                     read_version: int | None) -> LanceDataset:
    """Replace the table with ``fragments`` as version ``read_version + 1``, or fail.

    ``read_version=None`` creates the dataset (version 1), failing if it exists.

    Raises:
        WriteConflictError: A version was committed since ``read_version`` (or the dataset
            was created meanwhile).
    """
    op = LanceOperation.Overwrite(schema, fragments)
    try:
        return LanceDataset.commit(target.uri, op, read_version=read_version, max_retries=0,
                                   storage_options=target.storage_options)
    except CommitConflictError as exc:
        raise WriteConflictError(str(exc)) from exc
    except OSError as exc:
        if read_version is None and target.exists():
            raise WriteConflictError("the table was created by another writer") from exc
        raise TableError(f"committing to {target.uri} failed ({type(exc).__name__})") from exc


def commit_append(target: Target, fragments: list[FragmentMetadata], read_version: int
                  ) -> LanceDataset:
    """Append ``fragments`` to the table built from ``read_version`` (Lance rebases).

    Raises:
        WriteConflictError: An incompatible commit (overwrite, restore, schema change) since then.
    """
    try:
        return LanceDataset.commit(target.uri, LanceOperation.Append(fragments),
                                   read_version=read_version,
                                   storage_options=target.storage_options)
    except CommitConflictError as exc:
        raise WriteConflictError(str(exc)) from exc


def lance_conflicts(fn: Callable[[], _T]) -> _T:
    """Run a Lance write, turning its commit conflicts into :class:`WriteConflictError`."""
    try:
        return fn()
    except CommitConflictError as exc:
        raise WriteConflictError(str(exc)) from exc
    except OSError as exc:
        if "concurrent" in str(exc).lower():  # merge_insert: "Too many concurrent writers"
            raise WriteConflictError(str(exc)) from exc
        raise


def retrying(attempt: Callable[[], _T], *, what: str, attempts: int = MAX_ATTEMPTS) -> _T:
    """Run ``attempt`` until it commits without a :class:`WriteConflictError` (jittered backoff).

    Raises:
        TableError: Still conflicting after ``attempts`` tries.
    """
    for i in range(attempts):
        try:
            return attempt()
        except WriteConflictError:
            time.sleep(random.uniform(0.0, min(1.0, 0.01 * 2 ** min(i, 7))))
    raise TableError(f"{what}: {attempts} attempts all conflicted with concurrent writers;"
                     " nothing was written")
