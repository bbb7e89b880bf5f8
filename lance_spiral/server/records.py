"""What the server keeps beside each collection: reference vectors and the codecs tried.

A compressed collection stores codes, not the vectors it was given, so recall cannot be measured
against exact search on the table alone. The server therefore keeps a *reference sample*: the
first ``cap`` float vectors (as they arrived, or as the embedder produced them from texts) of
every collection, in a small Lance dataset. Recall of a codec is measured on that sample against
exact search over it (see :mod:`lance_spiral.server.stats`), the way
:func:`~lance_spiral.codecs.choose_codec` measures candidates.

The *history* records every codec measured on the collection (the codec in use at each refit,
each ``quantize``, every candidate an ``optimize`` tried): the dashboard's recall-vs-bytes chart.

Layout, beside the collections of a database folder or bucket prefix ``DB``::

    DB/_lance_spiral_server/<name>__reference.lance   id, vector (float32)
    DB/_lance_spiral_server/<name>__history.lance     one row per measurement

Both are plain Lance datasets (local paths and ``s3://`` alike); a crash between a collection's
commit and the reference append loses only that sample append.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import lance
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.errors import NotFoundError

__all__ = ["HISTORY_SCHEMA", "SERVER_DIR", "CollectionRecords", "drop_records", "table_names"]

SERVER_DIR = "_lance_spiral_server"

HISTORY_SCHEMA = pa.schema([
    ("at", pa.string()),
    ("source", pa.string()),
    ("spec", pa.string()),
    ("codec_file", pa.string()),
    ("code_bytes", pa.int64()),
    ("recall_at_10", pa.float64()),
    ("table_version", pa.int64()),
    ("chosen", pa.bool_()),
])


def _open(uri: str, storage_options: dict[str, str] | None) -> lance.LanceDataset | None:
    try:
        return lance.dataset(uri, storage_options=storage_options)
    except (ValueError, OSError, FileNotFoundError):
        return None


class CollectionRecords:
    """Reference vectors and codec history of one collection (thread-safe).

    Args:
        root: The server folder ``DB/_lance_spiral_server``.
        name: Collection name.
        storage_options: Lance storage options (object stores).
        cap: Most reference vectors kept.
    """

    def __init__(self, root: str, name: str, *, storage_options: dict[str, str] | None = None,
                 cap: int = 2000) -> None:
        self.reference_uri = f"{root}/{name}__reference.lance"
        self.history_uri = f"{root}/{name}__history.lance"
        self._opts = storage_options
        self.cap = int(cap)
        self._lock = threading.Lock()
        self._vectors: npt.NDArray[np.float32] | None = None

    # ------------------------------------------------------------------ reference
    def reference_count(self) -> int:
        """Reference vectors kept so far."""
        return len(self.reference())

    def reference(self) -> npt.NDArray[np.float32]:
        """The reference vectors ``[n, dim]`` (``n`` may be 0)."""
        with self._lock:
            if self._vectors is None:
                ds = _open(self.reference_uri, self._opts)
                if ds is None:
                    self._vectors = np.zeros((0, 0), np.float32)
                else:
                    col = ds.to_table(columns=["vector"]).column("vector").combine_chunks()
                    dim = col.type.list_size
                    flat = np.asarray(col.flatten(), dtype=np.float32)
                    self._vectors = flat.reshape(-1, dim) if dim else flat.reshape(0, 0)
            return self._vectors

    def extend(self, ids: list[Any], vectors: npt.NDArray[np.float32]) -> int:
        """Keep the first rows of ``vectors`` until the sample holds ``cap``; returns rows kept.

        Call it after the rows are committed to the collection (under the collection's write
        lock), so the sample only ever holds vectors the collection received.
        """
        have = self.reference_count()
        take = min(self.cap - have, len(vectors))
        if take <= 0:
            return 0
        x = np.ascontiguousarray(vectors[:take], dtype=np.float32)
        if have and self.reference().shape[1] != x.shape[1]:
            return 0
        tbl = pa.table({
            "id": pa.array([str(i) for i in ids[:take]], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1]),
        })
        lance.write_dataset(tbl, self.reference_uri, mode="append" if have else "create",
                            storage_options=self._opts)
        with self._lock:
            self._vectors = None
        return take

    def seed_from(self, vectors: npt.NDArray[np.float32], ids: list[Any]) -> int:
        """Fill an empty sample from vectors the table stores (alongside mode's float column)."""
        if self.reference_count():
            return 0
        return self.extend(ids, vectors)

    # -------------------------------------------------------------------- history
    def history(self) -> list[dict[str, Any]]:
        """Every measurement recorded, oldest first."""
        ds = _open(self.history_uri, self._opts)
        if ds is None:
            return []
        rows: list[dict[str, Any]] = ds.to_table().to_pylist()
        return rows

    def record(self, rows: list[dict[str, Any]]) -> None:
        """Append measurements (keys of :data:`HISTORY_SCHEMA`; ``at`` is filled in)."""
        if not rows:
            return
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        cols = {f.name: [r.get(f.name) for r in rows] for f in HISTORY_SCHEMA}
        cols["at"] = [r.get("at") or now for r in rows]
        tbl = pa.table(cols, schema=HISTORY_SCHEMA)
        with self._lock:
            mode = "append" if _open(self.history_uri, self._opts) is not None else "create"
            lance.write_dataset(tbl, self.history_uri, mode=mode, storage_options=self._opts)

    def measured(self, codec_file: str) -> dict[str, Any] | None:
        """The first history row measured with the fitted codec ``codec_file``, if any."""
        for row in self.history():
            if row.get("codec_file") == codec_file and row.get("recall_at_10") is not None:
                return row
        return None


def table_names(db: Any) -> list[str]:
    """Every table name of a LanceDB connection (all pages)."""
    out: list[str] = []
    token = None
    while True:
        page = db.list_tables(page_token=token)
        out.extend(page.tables)
        token = page.page_token
        if not token:
            return out


def drop_records(db_uri: str, name: str, storage_options: dict[str, str] | None) -> None:
    """Remove a collection's reference sample and history (when the collection is dropped)."""
    import lancedb

    try:
        db = lancedb.connect(f"{db_uri}/{SERVER_DIR}", storage_options=storage_options)
        present = set(table_names(db))
        for suffix in ("reference", "history"):
            if f"{name}__{suffix}" in present:
                db.drop_table(f"{name}__{suffix}")
    except (ValueError, OSError) as exc:
        raise NotFoundError(f"cannot remove the server records of {name!r}: {exc}") from exc
