"""The operations behind the REST routes and the MCP tools, with their input checks.

Every method validates its arguments and raises from :mod:`lance_spiral.errors` (the REST layer
turns those into 4xx JSON, the MCP layer into tool errors); nothing is written until the whole
request has been checked, and every write is one commit of the collection's table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_query, as_vectors, check_int, check_metric
from lance_spiral.codecs import make_codec
from lance_spiral.embed.protocol import Embedder, Lazy, check_texts
from lance_spiral.errors import (
    DimensionError,
    EmbeddingError,
    EmptyInputError,
    InvalidInputError,
    InvalidParameterError,
    LanceSpiralError,
    NotFoundError,
)
from lance_spiral.server.batching import AddBatcher, PendingAdd
from lance_spiral.server.catalog import Catalog, Collection
from lance_spiral.server.rows import check_ids, result_rows
from lance_spiral.server.stats import StatsCache, measure

__all__ = ["MAX_K", "MAX_ROWS_PER_ADD", "Service"]

MAX_ROWS_PER_ADD = 10_000
# Small adds make small Lance fragments; every scan (id checks, filters) pays per fragment.
COMPACT_FRAGMENTS = 32
MAX_K = 1000


def _default_embedder(model_dir: str | None) -> Embedder:
    from lance_spiral.embed.approximator import shared_approximator

    return shared_approximator(model_dir)


class Service:
    """Collections of one database and what can be done with them.

    Args:
        catalog: The database's collections.
        embedder: Embeds ``texts`` (default: the shipped approximator, or ``embedder_dir``).
        embedder_dir: An approximator folder to embed texts with.
    """

    def __init__(self, catalog: Catalog, *, embedder: Embedder | None = None,
                 embedder_dir: str | None = None) -> None:
        self.catalog = catalog
        self._embedder: Lazy[Embedder] = Lazy(
            (lambda: embedder) if embedder is not None else
            (lambda: _default_embedder(embedder_dir)))
        self.stats_cache = StatsCache()
        self._batchers: dict[str, tuple[Collection, AddBatcher]] = {}
        self._batchers_lock = threading.Lock()

    # ----------------------------------------------------------------- helpers
    def embed(self, texts: list[str], dim: int | None) -> npt.NDArray[np.float32]:
        """Embed ``texts`` for a collection of width ``dim``.

        Raises:
            DimensionError: The embedder's width differs from the collection's.
        """
        model = self._model()
        if dim is not None and model.dim != dim:
            raise DimensionError(
                f"the server's text embedder makes {model.dim}-d vectors, the collection has"
                f" dim {dim}: send vectors instead")
        return np.asarray(model.embed(texts), dtype=np.float32)

    def embedder_dim(self) -> int:
        """Width of the server's text embedder (loads it)."""
        return int(self._model().dim)

    def _model(self) -> Embedder:
        try:
            return self._embedder.get()
        except (LanceSpiralError, OSError) as exc:
            raise EmbeddingError(
                f"this server has no text embedder ({exc}); send vectors, or start it with"
                " --embedder DIR") from exc

    def summary(self, col: Collection) -> dict[str, Any]:
        """What ``GET /collections/{name}`` returns."""
        t = col.table
        codec = t.codec
        return {"name": col.name, "rows": t.count_rows(), "dim": t.dim, "metric": t.metric,
                "mode": t.mode, "codec": codec.spec if codec is not None else t.meta.codec_spec,
                "target_codec": t.meta.codec_spec, "version": t.version,
                "columns": [c for c in t.meta.payload]}

    # ------------------------------------------------------------- collections
    def list_collections(self) -> list[dict[str, Any]]:
        """Every collection's summary (one dropped meanwhile is left out)."""
        out = []
        for n in self.catalog.names():
            try:
                out.append(self.summary(self.catalog.get(n)))
            except NotFoundError:
                continue
        return out

    def create_collection(self, name: str, dim: int, metric: str = "cosine",
                          codec: str | None = None, mode: str | None = None) -> dict[str, Any]:
        """Create an empty collection; returns its summary."""
        check_int(dim, "dim", lo=1, hi=65536)
        codec = codec or "sq:bits=8"
        make_codec(codec, metric=check_metric(metric))
        col = self.catalog.create(name, dim=dim, metric=metric, codec=codec,
                                  mode=mode or "compressed")
        return self.summary(col)

    def describe(self, name: str) -> dict[str, Any]:
        """One collection's summary."""
        return self.summary(self.catalog.get(name))

    def drop_collection(self, name: str) -> dict[str, Any]:
        """Delete a collection and its records."""
        self.catalog.drop(name)
        self.stats_cache.forget(name)
        return {"dropped": name}

    # -------------------------------------------------------------------- rows
    def add(self, name: str, *, ids: Sequence[Any] | None = None,
            vectors: Any = None, texts: Sequence[Any] | None = None,
            metadata: Sequence[Any] | None = None) -> dict[str, Any]:
        """Add rows (vectors, or texts embedded by the server); returns the ids written.

        Raises:
            InvalidInputError: No vectors nor texts, too many rows, bad ids or metadata.
            DimensionError, NonFiniteError: Bad vectors.
            TableError: An id is already in the collection.
        """
        col = self.catalog.get(name)
        t = col.table
        if vectors is None and texts is None:
            raise InvalidInputError("add needs vectors or texts")
        text_list = None if texts is None else check_texts(texts, name="texts")
        if vectors is not None:
            x = as_vectors(vectors, dim=t.dim, name="vectors")
        if text_list is not None and len(text_list) > MAX_ROWS_PER_ADD:
            raise InvalidInputError(
                f"{len(text_list)} rows in one add; at most {MAX_ROWS_PER_ADD}")
        if vectors is None and text_list is not None:
            x = self.embed(text_list, t.dim)
        n = len(x)
        if n > MAX_ROWS_PER_ADD:
            raise InvalidInputError(f"{n} rows in one add; at most {MAX_ROWS_PER_ADD}")
        if text_list is not None and len(text_list) != n:
            raise InvalidInputError(f"got {len(text_list)} texts for {n} vectors")
        id_list = check_ids(ids, n, t.meta.id_type)
        if metadata is not None and len(metadata) != n:
            raise InvalidInputError(f"got {len(metadata)} metadata entries for {n} rows")
        pending = PendingAdd(ids=id_list, vectors=x, texts=text_list, metadata=metadata,
                             check_taken=ids is not None)
        version = self._batcher(col).submit(pending)
        return {"added": n, "ids": id_list, "version": version}

    def _batcher(self, col: Collection) -> AddBatcher:
        with self._batchers_lock:
            known = self._batchers.get(col.name)
            if known is None or known[0] is not col:
                known = (col, AddBatcher(col, lambda done: self._after_add(col, done)))
                self._batchers[col.name] = known
            return known[1]

    def _after_add(self, col: Collection, done: list[PendingAdd]) -> None:
        """Under the collection's lock, after a commit: keep reference vectors, compact."""
        col.records.extend([i for p in done for i in p.ids],
                           np.concatenate([p.vectors for p in done]))
        t = col.table
        if len(t.dataset.get_fragments()) > COMPACT_FRAGMENTS:
            t.compact()

    def get_rows(self, name: str, ids: Sequence[Any]) -> dict[str, Any]:
        """Rows by id (unknown ids are left out)."""
        col = self.catalog.get(name)
        if not isinstance(ids, (list, tuple)) or not ids:
            raise EmptyInputError("ids must be a non-empty list")
        if len(ids) > MAX_ROWS_PER_ADD:
            raise InvalidInputError(f"at most {MAX_ROWS_PER_ADD} ids per request")
        tbl = col.table.get(list(ids))
        return {"rows": result_rows(tbl, col.table.meta.id_column, score=False)}

    def search(self, name: str, *, vector: Any = None, text: str | None = None, k: int = 10,
               filter: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Top-``k`` rows for a vector or a text (embedded by the server)."""
        col = self.catalog.get(name)
        t = col.table
        if (vector is None) == (text is None):
            raise InvalidInputError("search needs exactly one of vector or text")
        k = check_int(k, "k", lo=1, hi=MAX_K)
        if filter is not None and not isinstance(filter, Mapping):
            raise InvalidInputError("filter must be an object (the dict filter language)")
        t0 = time.perf_counter()
        if text is not None:
            q = self.embed(check_texts([text], name="text"), t.dim)[0]
        else:
            q = as_query(vector, dim=t.dim, name="vector")
            if q.shape[0] != 1:
                raise DimensionError("vector must be one vector (a flat list of numbers)")
            q = q[0]
        if t.dim is None or t.meta.codec_file is None:
            return {"results": [], "took_ms": round((time.perf_counter() - t0) * 1e3, 3)}
        query = t.search(q).limit(k)
        if filter is not None:
            query = query.where(filter=dict(filter))
        tbl = query.to_arrow()
        took = (time.perf_counter() - t0) * 1e3
        return {"results": result_rows(tbl, t.meta.id_column), "took_ms": round(took, 3)}

    def delete_rows(self, name: str, *, ids: Sequence[Any] | None = None,
                    filter: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Delete rows by id or by dict filter (exactly one)."""
        col = self.catalog.get(name)
        if (ids is None) == (filter is None):
            raise InvalidInputError("delete needs exactly one of ids or filter")
        if filter is not None and (not isinstance(filter, Mapping) or not filter):
            raise InvalidInputError(
                "filter must be a non-empty object; to delete every row drop the collection")
        if ids is not None and (not isinstance(ids, (list, tuple)) or not ids):
            raise EmptyInputError("ids must be a non-empty list")
        with col.lock:
            t = col.table
            where = {t.meta.id_column: {"$in": list(ids)}} if ids is not None else dict(filter
                                                                                       or {})
            deleted = t.delete(filter=where)
            return {"deleted": int(deleted), "version": t.version}

    # ------------------------------------------------------------ quantisation
    def stats(self, name: str) -> dict[str, Any]:
        """Quantisation statistics of the collection's current version (cached per version)."""
        col = self.catalog.get(name)
        t = col.table
        snap_version = t.version

        def compute() -> dict[str, Any]:
            ref = self._reference(col)
            out = measure(t, ref)
            codec_file = t.meta.codec_file
            if codec_file and out["recall_at_10_estimate"] is not None and \
                    col.records.measured(codec_file) is None:
                col.records.record([{
                    "source": "in use", "spec": out["codec"], "codec_file": codec_file,
                    "code_bytes": out["code_bytes"], "recall_at_10":
                    out["recall_at_10_estimate"], "table_version": out["version"],
                    "chosen": True}])
            return out

        return {"name": name, **self.stats_cache.get(name, snap_version, compute)}

    def _reference(self, col: Collection) -> npt.NDArray[np.float32]:
        ref = col.records.reference()
        t = col.table
        if len(ref) == 0 and t.mode == "alongside" and t.count_rows() > 0:
            m = t.meta
            cap = col.records.cap
            tbl = t.dataset.to_table(columns=[m.id_column, m.vector_column], limit=cap)
            flat = np.asarray(tbl.column(m.vector_column).combine_chunks().flatten(),
                              dtype=np.float32)
            with col.lock:
                col.records.seed_from(flat.reshape(len(tbl), -1),
                                      tbl.column(m.id_column).to_pylist())
            ref = col.records.reference()
        return ref

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every codec measured on the collection (for the recall-vs-bytes chart)."""
        return self.catalog.get(name).records.history()

    def check_target(self, target_recall: Any) -> float:
        """A recall target in ``(0, 1]``."""
        if isinstance(target_recall, bool) or not isinstance(target_recall, (int, float)) or \
                not 0.0 < float(target_recall) <= 1.0:
            raise InvalidParameterError(f"target_recall must be in (0, 1], got {target_recall!r}")
        return float(target_recall)
