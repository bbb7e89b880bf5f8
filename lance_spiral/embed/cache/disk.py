"""The cache's disk tier (L3): a Lance table of exact float32 vectors keyed by text hash.

One table per model key, columns ``model``, ``text_sha256`` (hex) and ``vector``. New entries are
buffered and appended in batches (each append one atomic Lance commit), so a crash loses at most
the unflushed buffer, never the table. Duplicate keys (two processes writing the same text) are
harmless: reads keep the first row.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lance_spiral.errors import InvalidInputError

__all__ = ["DiskTier", "text_key"]

_LOOKUP_CHUNK = 1000


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
        self.flush_rows = flush_rows
        self.rows_written = 0
        self.appends = 0
        self._pending: OrderedDict[bytes, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def pending(self) -> int:
        """Entries buffered but not yet written."""
        with self._lock:
            return len(self._pending)

    def dim(self) -> int | None:
        """Width of the stored vectors (``None`` while the table does not exist)."""
        import lance
        import pyarrow as pa

        if not Path(self.uri).exists():
            return None
        field = lance.dataset(self.uri).schema.field("vector")
        if not pa.types.is_fixed_size_list(field.type):
            raise InvalidInputError(f"L3 table {self.uri} has a bad vector column: {field.type}")
        return int(field.type.list_size)

    def lookup(self, keys: list[bytes]) -> dict[bytes, npt.NDArray[np.float32]]:
        """Vectors of the keys found (buffered entries included)."""
        import lance

        hits: dict[bytes, npt.NDArray[np.float32]] = {}
        with self._lock:
            for k in keys:
                v = self._pending.get(k)
                if v is not None:
                    hits[k] = v
        todo = [k for k in keys if k not in hits]
        if not todo or not Path(self.uri).exists():
            return hits
        ds = lance.dataset(self.uri)
        for start in range(0, len(todo), _LOOKUP_CHUNK):
            chunk = todo[start:start + _LOOKUP_CHUNK]
            in_list = ", ".join(f"'{k.hex()}'" for k in chunk)
            tbl = ds.to_table(columns=["text_sha256", "vector"],
                              filter=f"text_sha256 IN ({in_list})")
            if tbl.num_rows == 0:
                continue
            hexes = tbl.column("text_sha256").to_pylist()
            flat = tbl.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            mat = np.asarray(flat, dtype=np.float32).reshape(tbl.num_rows, -1)
            for row, h in enumerate(hexes):
                k = bytes.fromhex(h)
                if k not in hits:  # duplicates from concurrent writers: keep the first
                    hits[k] = mat[row].copy()
        return hits

    def put(self, pairs: list[tuple[bytes, npt.NDArray[np.float32]]], dim: int) -> None:
        """Buffer entries; append them once ``flush_rows`` are waiting."""
        with self._lock:
            for k, v in pairs:
                self._pending[k] = v
            if len(self._pending) >= self.flush_rows:
                self.flush(dim)

    def flush(self, dim: int | None) -> int:
        """Append the buffer in one commit; returns rows written."""
        import lance
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
            if Path(self.uri).exists():
                lance.write_dataset(table, self.uri, mode="append")
            else:
                try:
                    lance.write_dataset(table, self.uri, mode="create")
                except OSError:  # another process created it first: append instead
                    lance.write_dataset(table, self.uri, mode="append")
            self._pending.clear()
            self.rows_written += len(keys)
            self.appends += 1
            return len(keys)

    def optimize(self, dim: int | None) -> None:
        """Flush, compact the table's fragments and (re)build a BTREE index on the key."""
        import lance

        with self._lock:
            self.flush(dim)
            if not Path(self.uri).exists():
                return
            ds = lance.dataset(self.uri)
            ds.optimize.compact_files()
            ds = lance.dataset(self.uri)
            ds.create_scalar_index("text_sha256", "BTREE", replace=True)
