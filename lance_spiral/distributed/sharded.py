"""Sharded search on Ray: shards served by actors, a global top-k merged on the driver.

``open_sharded(uri, shards=4).search(v).where({...}).limit(10).to_list()``

Shards are fragment groups of one table version (balanced by rows; fragments keep their shard
when the table grows) or several tables (one shard each). Each shard is a Ray actor
(:class:`~lance_spiral.distributed.shard.ShardServer`) holding the hot state of its own rows and
answering with the table's own search; a query fans out to every shard, each returns its top
``k * oversample`` (filters applied inside the shard, before the search by default), and the
driver keeps the global top-``k`` by score. Versions: every shard serves the same version of
the table; :meth:`ShardedTable.refresh` moves them all to the latest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from lance_spiral._optional import require
from lance_spiral._validation import check_int
from lance_spiral.distributed.remote import spiral_cause
from lance_spiral.distributed.shard import ShardServer, assign_fragments
from lance_spiral.errors import InvalidInputError, InvalidParameterError, TableError
from lance_spiral.table import Query, open_table
from lance_spiral.table.sql import filter_sql
from lance_spiral.table.state import check_memory

__all__ = ["ShardedQuery", "ShardedTable", "merge_topk", "open_sharded"]


def merge_topk(parts: list[pa.Table], k: int) -> pa.Table:
    """The best ``k`` rows by ``_score`` per ``_query_index`` (if present) of shard results."""
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return pa.table({})
    tbl = pa.concat_tables(parts, promote_options="permissive")
    score = tbl.column("_score").to_numpy()
    batch = "_query_index" in tbl.column_names
    qi = tbl.column("_query_index").to_numpy() if batch else np.zeros(len(score), np.int64)
    order = np.lexsort((-score, qi))
    qs = qi[order]
    first = np.searchsorted(qs, qs, side="left")
    rank = np.arange(len(qs)) - first
    return tbl.take(pa.array(order[rank < k]))


def _call(refs: Any) -> Any:
    ray = require("ray", "distributed")
    try:
        return ray.get(refs)
    except Exception as exc:
        cause = spiral_cause(exc)
        if cause is not None:
            raise type(cause)(str(cause)) from exc
        raise TableError(f"a shard failed: {type(exc).__name__}: {str(exc)[:500]}") from exc


class ShardedQuery:
    """A query over a :class:`ShardedTable`; the builder of :class:`Query`, fanned out.

    Every call is checked at once on the driver (the table's own builder), then replayed in
    each shard; ``limit(k)`` asks every shard for ``k * oversample`` rows.
    """

    def __init__(self, table: ShardedTable, query: Any) -> None:
        self._t = table
        self._q = query
        self._check = Query(table, query)
        self._ops: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._k = 10
        self._sql: str | None = None

    def _op(self, name: str, *args: Any, **kwargs: Any) -> ShardedQuery:
        getattr(self._check, name)(*args, **kwargs)
        self._ops.append((name, args, kwargs))
        return self

    def where(self, filter: Mapping[str, Any] | None = None, prefilter: bool = True, *,
              sql: str | None = None) -> ShardedQuery:
        """Filter rows (dict filter, or trusted ``sql=``), before the search by default."""
        m = self._t.meta
        pred = filter_sql(filter, sql, self._t.schema,
                          protected=[*m.internal_columns(), m.vector_column], what="where()")
        if pred is None:
            raise InvalidInputError("where() needs a dict filter or sql=")
        self._sql = pred
        return self._op("where", None, bool(prefilter), sql=pred)

    def limit(self, k: int) -> ShardedQuery:
        """Results per query (global top-``k``)."""
        self._k = check_int(k, "limit", lo=1)
        self._check.limit(k)
        return self

    def nprobes(self, n: int) -> ShardedQuery:
        """IVF partitions each shard scans."""
        return self._op("nprobes", n)

    def rerank(self, k2: int) -> ShardedQuery:
        """Candidates each shard re-scores with the codec."""
        return self._op("rerank", k2)

    def candidates(self, n: int) -> ShardedQuery:
        """Disk memory mode: Hamming candidates each shard narrows to its ``rerank`` ones."""
        return self._op("candidates", n)

    def recall_target(self, target: float) -> ShardedQuery:
        """Recall each shard's automatic depth aims for."""
        return self._op("recall_target", target)

    def select(self, columns: list[str]) -> ShardedQuery:
        """Payload columns to return (id and ``_score`` always)."""
        return self._op("select", list(columns) if isinstance(columns, tuple) else columns)

    def with_vectors(self, flag: bool = True) -> ShardedQuery:
        """Also return the decoded vectors."""
        return self._op("with_vectors", flag)

    def metric(self, m: str) -> ShardedQuery:
        """Check the metric."""
        return self._op("metric", m)

    def to_arrow(self) -> pa.Table:
        """Run on every shard and merge: the global top-``k``."""
        if self._q is None:
            return self._t.filter_only(self._sql, self._k, self._ops)
        ops = [*self._ops, ("limit", (self._k * self._t.oversample,), {})]
        parts = _call([a.search.remote(self._q, ops) for a in self._t.actors])
        out = merge_topk(parts, self._k)
        return out if out.num_columns else parts[0]

    def to_list(self) -> list[dict[str, Any]]:
        """The results as a list of dicts."""
        return self.to_arrow().to_pylist()

    def to_pandas(self) -> Any:
        """The results as a pandas DataFrame."""
        return self.to_arrow().to_pandas()


class ShardedTable:
    """A table (or several) searched through Ray actors; build with :func:`open_sharded`."""

    def __init__(self, uris: list[str], *, shards: int, version: int | None,
                 storage_options: dict[str, str] | None, memory: str, oversample: int,
                 cpus_per_shard: float) -> None:
        ray = require("ray", "distributed")
        self.uris = uris
        self.oversample = oversample
        self._opts = storage_options
        first = open_table(uris[0], version=version, storage_options=storage_options)
        self.uri, self.meta, self._schema = uris[0], first.meta, first.schema
        self._version = first.version
        metas = [first.meta] + [open_table(u, storage_options=storage_options).meta
                                for u in uris[1:]]
        for u, m in zip(uris, metas, strict=True):
            if (m.dim, m.metric, m.id_column) != (first.meta.dim, first.meta.metric,
                                                  first.meta.id_column):
                raise InvalidInputError(f"table {u} differs from {uris[0]} in dim, metric or "
                                        "id column: shards must be searchable alike")
        actor = ray.remote(num_cpus=cpus_per_shard)(ShardServer)
        if len(uris) == 1:
            self._assign = self._assignment(first.dataset, shards, None)
            groups: list[list[int] | None] = [list(g) for g in self._assign_groups(shards)]
            self.actors = [actor.remote(uris[0], g, self._version, storage_options, memory)
                           for g in groups]
        else:
            self._assign = {}
            self.actors = [actor.remote(u, None, version, storage_options, memory)
                           for u in uris]
        self._shards = len(self.actors)
        _call([a.load.remote() for a in self.actors])

    @staticmethod
    def _assignment(ds: Any, shards: int, previous: dict[int, int] | None) -> dict[int, int]:
        frags = [(f.fragment_id, f.count_rows()) for f in ds.get_fragments()]
        groups = assign_fragments(frags, shards, previous)
        return {fid: s for s, g in enumerate(groups) for fid in g}

    def _assign_groups(self, shards: int) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(shards)]
        for fid, s in sorted(self._assign.items()):
            out[s].append(fid)
        return out

    @property
    def schema(self) -> pa.Schema:
        """The (first) table's schema."""
        return self._schema

    @property
    def version(self) -> int:
        """The version every shard serves (single table)."""
        return self._version

    @property
    def shards(self) -> int:
        """Number of shards (actors)."""
        return self._shards

    def __repr__(self) -> str:
        return f"ShardedTable({self.uris!r}, shards={self._shards}, version={self._version})"

    def search(self, query: Any = None) -> ShardedQuery:
        """Start a query (the :class:`~lance_spiral.table.query.Query` builder)."""
        return ShardedQuery(self, query)

    def snapshot(self) -> Any:
        """Not available on the driver: the shards hold the state."""
        raise TableError("a sharded table's state lives in its shards; use search()")

    def shard_stats(self) -> list[dict[str, int]]:
        """Per shard: version, rows and resident bytes of its hot state."""
        stats: list[dict[str, int]] = _call([a.load.remote() for a in self.actors])
        return stats

    def count_rows(self, filter: Mapping[str, Any] | None = None, *, sql: str | None = None
                   ) -> int:
        """Rows (matching a dict filter or trusted ``sql=``) over all shards."""
        pred = filter_sql(filter, sql, self._schema, protected=[], what="count_rows()") \
            if (filter is not None or sql is not None) else None
        return int(sum(_call([a.count_rows.remote(pred) for a in self.actors])))

    def __len__(self) -> int:
        return self.count_rows()

    def filter_only(self, sql: str | None, k: int,
                    ops: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> pa.Table:
        """A query without a vector: filtered rows, up to ``k``."""
        targets = self.actors[:1] if len(self.uris) == 1 else self.actors
        parts = _call([a.search.remote(None, [*ops, ("limit", (k,), {})]) for a in targets])
        return pa.concat_tables(parts, promote_options="permissive").slice(0, k)

    def refresh(self) -> ShardedTable:
        """Move every shard to the latest version (new fragments join the lightest shards)."""
        if len(self.uris) != 1:
            _call([a.move.remote(None, None) for a in self.actors])
            return self
        latest = open_table(self.uri, storage_options=self._opts)
        self._assign = self._assignment(latest.dataset, self._shards, self._assign)
        groups = self._assign_groups(self._shards)
        _call([a.move.remote(latest.version, g) for a, g in zip(self.actors, groups,
                                                                  strict=True)])
        self.meta, self._schema, self._version = latest.meta, latest.schema, latest.version
        return self

    def close(self) -> None:
        """Stop the shard actors."""
        ray = require("ray", "distributed")
        for a in self.actors:
            ray.kill(a)
        self.actors = []


def open_sharded(uri_or_uris: str | Sequence[str], *, shards: int | None = None,
                 version: int | None = None, storage_options: dict[str, str] | None = None,
                 memory: str = "ram", oversample: int = 2, cpus_per_shard: float = 1.0
                 ) -> ShardedTable:
    """Serve a table's fragment groups (or several tables) from Ray actors.

    Args:
        uri_or_uris: One table URI (sharded by fragments) or a list of table URIs (one shard
            each; same dim, metric and id column).
        shards: Number of fragment groups for one table (default 2); for a list, ``None`` or
            its length.
        version: Version to serve (one table only; latest when None).
        storage_options: Lance storage options for object stores.
        memory: ``"ram"`` or ``"disk"`` hot state in each shard.
        oversample: Each shard returns ``k * oversample`` rows for the global top-``k``.
        cpus_per_shard: Ray CPUs reserved per actor.

    Returns:
        A :class:`ShardedTable` (call ``close()`` to stop its actors).

    Raises:
        MissingDependencyError: Ray not installed (``[distributed]`` extra).
        InvalidParameterError: Bad shard count, oversample or version with several tables.
        NotFoundError: A table does not exist.
    """
    require("ray", "distributed")
    uris = [uri_or_uris] if isinstance(uri_or_uris, str) else list(uri_or_uris)
    if not uris or not all(isinstance(u, str) and u for u in uris):
        raise InvalidParameterError("give a table URI or a non-empty list of table URIs")
    if len(uris) == 1:
        n = check_int(2 if shards is None else shards, "shards", lo=1)
    else:
        if shards is not None and shards != len(uris):
            raise InvalidParameterError(f"{len(uris)} tables make {len(uris)} shards, not"
                                        f" {shards}")
        if version is not None:
            raise InvalidParameterError("version= applies to one table, not a list")
        n = len(uris)
    check_int(oversample, "oversample", lo=1)
    check_memory(memory)
    if isinstance(cpus_per_shard, bool) or not isinstance(cpus_per_shard, (int, float)) \
            or cpus_per_shard < 0:
        raise InvalidParameterError(f"cpus_per_shard must be >= 0, got {cpus_per_shard!r}")
    return ShardedTable(uris, shards=n, version=version, storage_options=storage_options,
                        memory=memory, oversample=oversample, cpus_per_shard=cpus_per_shard)

