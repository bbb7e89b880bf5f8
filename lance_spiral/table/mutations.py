"""The write side of a compressed table: add, upsert, delete, update, restore, indexes.

:class:`TableWrites` holds the methods of :class:`~lance_spiral.table.table.CompressedTable`
that change the table. Each runs its attempt function (:mod:`lance_spiral.table.writes`,
:mod:`lance_spiral.table.rewrite`) under :func:`~lance_spiral.table.commit.retrying`: built from
the latest version, committed conditionally on it, rebuilt when another writer got there first.
Dict filters are safe for untrusted input; ``sql=`` strings are trusted input only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lance

from lance_spiral._validation import check_int
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError, TableError
from lance_spiral.table.commit import Target, lance_conflicts, retrying
from lance_spiral.table.ingest import RowSource
from lance_spiral.table.meta import TableMeta
from lance_spiral.table.requantize import check_request, requantize_table
from lance_spiral.table.sql import filter_sql, sql_in
from lance_spiral.table.writes import add_rows, delete_rows, update_rows, upsert_rows

__all__ = ["TableWrites"]

_LANCE_METRIC = {"cosine": "cosine", "ip": "dot", "l2": "l2"}


class TableWrites:
    """Write methods of a compressed table (mixed into ``CompressedTable``)."""

    uri: str
    meta: TableMeta
    _ds: lance.LanceDataset
    _target: Target
    _read_only: bool

    def _reload(self, ds: lance.LanceDataset) -> None:
        """Move the handle to ``ds`` (defined by the table)."""
        raise NotImplementedError

    def _predicate(self, filter: Any, sql: Any, what: str = "filter") -> str | None:
        """The Lance predicate of a dict ``filter`` or a raw ``sql`` string (see table.sql)."""
        return filter_sql(filter, sql, self._ds.schema, protected=self.meta.internal_columns(),
                          what=what)

    def _writable(self) -> None:
        if self._read_only:
            raise TableError(f"table {self.uri} is checked out at version {self._ds.version}:"
                             " read-only (restore() it or open_table() the latest)")

    def _source(self, data: Any) -> RowSource:
        if isinstance(data, RowSource):
            return data
        return RowSource(data, vector_column=self.meta.vector_column,
                         id_column=self.meta.id_column)

    # ----------------------------------------------------------------------- writes
    def add(self, data: Any, *, progress: bool = False) -> int:
        """Append rows in one atomic commit; returns the number of rows this call wrote.

        The commit is conditional on the version the rows were encoded for: if another writer
        commits first, the add is rebuilt on the new version (never a lost or mixed row). No
        rows, no commit. Ids are not checked against the table's (use :meth:`upsert` for that).

        Raises:
            DimensionError: Vectors of another width than the table's.
            NonFiniteError, InvalidInputError, DTypeError: Bad rows (integer vectors included),
                or an id given twice in ``data``.
            TableError: Read-only handle.
        """
        self._writable()
        source = self._source(data)
        ds, n = retrying(lambda: add_rows(self._target, source, progress=progress),
                         what=f"add to {self.uri}")
        self._reload(ds)
        return n

    def upsert(self, data: Any) -> dict[str, int]:
        """Merge-insert on the id column: update rows whose id exists, insert the others.

        Concurrent upserts of one new id insert it once (the id column is Lance's primary
        key), and the commit is conditional like :meth:`add`'s.

        Returns:
            ``{"inserted": n, "updated": n}``.

        Raises:
            InvalidInputError: An id given twice in ``data``, or bad rows.
        """
        self._writable()
        source = self._source(data)
        ds, counts = retrying(lambda: upsert_rows(self._target, source),
                              what=f"upsert into {self.uri}")
        self._reload(ds)
        return counts

    def delete(self, filter: Mapping[str, Any] | None = None, *, sql: str | None = None) -> int:
        """Delete the rows matching a filter; returns the number deleted.

        Args:
            filter: A dict filter (safe for untrusted input). ``{}`` (every row) is refused.
            sql: Raw Lance SQL instead (trusted input only); ``sql="true"`` deletes every row.

        Raises:
            InvalidInputError: Neither given, an empty dict, a string passed as ``filter``, or a
                bad filter.
        """
        if filter is None and sql is None:
            raise InvalidInputError("delete() needs filter= (a dict) or sql=; to delete every"
                                    " row, say so with sql='true'")
        if isinstance(filter, Mapping) and not filter:
            raise InvalidInputError("delete() with an empty filter would delete every row; say"
                                    " so with sql='true'")
        return self._delete(self._predicate(filter, sql) or "false")

    def _delete(self, where: str) -> int:
        self._writable()
        ds, n = retrying(lambda: delete_rows(self._target, where), what=f"delete from {self.uri}")
        self._reload(ds)
        return n

    def delete_ids(self, ids: Sequence[Any]) -> int:
        """Delete rows by id (unknown ids are ignored); returns the number deleted."""
        ids = list(ids)
        if not ids:
            return 0
        return self._delete(sql_in(self.meta.id_column, ids))

    def update(self, filter: Mapping[str, Any] | None, values: dict[str, Any], *,
               sql: str | None = None) -> int:
        """Set payload columns to literal ``values`` on the rows matching a filter.

        Args:
            filter: A dict filter (safe for untrusted input); ``None`` with no ``sql``: every row.
            values: Column -> new value (str, int, float, bool or None).
            sql: Raw Lance SQL instead of ``filter`` (trusted input only).

        Returns:
            The number of rows updated.

        Raises:
            InvalidInputError: Unknown or protected columns (id, vector, codes), bad filter.
        """
        if not isinstance(values, dict) or not values:
            raise InvalidInputError("update() needs a non-empty dict of column -> value")
        where = self._predicate(filter, sql)
        self._writable()
        ds, n = retrying(lambda: update_rows(self._target, where, values),
                         what=f"update of {self.uri}")
        self._reload(ds)
        return n

    def requantize(self, codec: str | None = None, *, target_recall: float | None = None,
                   sample: int = 20000) -> dict[str, Any]:
        """Switch the stored codes to another codec, in one commit.

        The table's vectors (decoded from the codes, or the float column in ``alongside``
        mode) are re-encoded with ``codec`` -- or with the fewest-bytes codec whose recall@10
        on held-out rows of a ``sample`` of the table reaches ``target_recall``
        (:func:`lance_spiral.codecs.choose_codec`) -- fitted on that sample. Readers see the old
        codes or the new ones, never a mix; concurrent writers are rebuilt on the new codec.

        Args:
            codec: The new codec spec (``"sq:bits=4"``, ``"pq:m=48"``...).
            target_recall: Instead of ``codec``: the recall@10 to reach, in ``(0, 1]``.
            sample: Rows read to fit (and measure) the codec.

        Returns:
            What was done and measured: ``previous_codec``, ``codec``, ``previous_code_bytes``,
            ``code_bytes``, ``rows``, ``sample_rows``, ``recall`` (``None`` below 300 rows),
            ``version``; with ``target_recall`` also ``target_recall``, ``met``,
            ``candidates``.

        Raises:
            InvalidInputError: Neither or both of ``codec`` / ``target_recall``.
            InvalidParameterError, UnknownCodecError: Bad spec, target or sample.
            TableError: Read-only handle, or a Lance vector index the rewrite would drop.
        """
        check_request(codec, target_recall, sample, self.meta.metric)
        self._writable()
        ds, report = retrying(
            lambda: requantize_table(self._target, codec, target_recall, sample),
            what=f"requantize of {self.uri}")
        self._reload(ds)
        return report

    # ---------------------------------------------------------------- versions, indexes
    def restore(self, version: int) -> None:
        """Make ``version`` the latest (a new commit; history is kept)."""
        check_int(version, "version", lo=1)
        self._writable()
        try:
            old = self._target.open(version)
        except NotFoundError as exc:
            raise NotFoundError(f"table {self.uri} has no version {version}") from exc
        TableMeta.from_schema(old.schema, self.uri)
        old.restore()
        self._reload(self._target.open())

    def compact(self) -> None:
        """Merge small fragments and drop deleted rows (Lance ``compact_files``)."""
        self._writable()

        def attempt() -> lance.LanceDataset:
            ds = self._target.open()
            lance_conflicts(ds.optimize.compact_files)
            return ds

        self._reload(retrying(attempt, what=f"compaction of {self.uri}"))

    def create_scalar_index(self, column: str, *, index_type: str = "BTREE",
                            replace: bool = True) -> None:
        """Create a Lance scalar index (BTREE, BITMAP...) on a payload or id column."""
        if column not in self._ds.schema.names or column in self.meta.internal_columns():
            raise InvalidInputError(f"cannot index column {column!r}; columns: "
                                    f"{[self.meta.id_column, *self.meta.payload]}")
        self._writable()

        def attempt() -> lance.LanceDataset:
            ds = self._target.open()
            lance_conflicts(lambda: ds.create_scalar_index(
                column, index_type=index_type, replace=replace))  # type: ignore[arg-type]
            return ds

        self._reload(retrying(attempt, what=f"indexing {self.uri}"))

    def create_vector_index(self, index_type: str = "IVF_PQ", **kwargs: Any) -> None:
        """Alongside mode: build a Lance vector index on the float column (candidate stage).

        Args:
            index_type: ``IVF_PQ``, ``IVF_RQ``, ``IVF_SQ``, ``IVF_HNSW_SQ``...
            **kwargs: Passed to ``LanceDataset.create_index`` (num_partitions,
                num_sub_vectors, ...).
        """
        if self.meta.mode != "alongside":
            raise TableError("vector indexes need a float column: create the table in"
                             " mode='alongside' (compressed mode has its own IVF)")
        self._writable()

        def attempt() -> lance.LanceDataset:
            ds = self._target.open()
            try:
                lance_conflicts(lambda: ds.create_index(
                    self.meta.vector_column, index_type=index_type,
                    metric=_LANCE_METRIC[self.meta.metric], **kwargs))
            except (ValueError, OSError, TypeError) as exc:
                raise InvalidParameterError(f"cannot build {index_type} index: {exc}") from exc
            return ds

        self._reload(retrying(attempt, what=f"indexing {self.uri}"))

