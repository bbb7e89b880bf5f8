"""Document store for framework adapters: a compressed table created lazily at the first write.

The vector width is only known once the first texts are embedded, so the table is opened if it
exists and created by the first upsert otherwise; reads on a table that does not exist yet return
nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.errors import InvalidInputError

if TYPE_CHECKING:
    from lance_spiral.table import CompressedTable


__all__ = ["DocumentStore"]

ID, TEXT, METADATA, VECTOR, SCORE = "id", "text", "metadata", "vector", "_score"


class DocumentStore:
    """A compressed table at ``uri`` with columns id / text / metadata (JSON) / vector.

    Args:
        uri: Table location.
        codec: Codec spec for the vectors.
        metric: Search metric.
        mode: ``"compressed"`` or ``"alongside"``.
        create_kwargs: More ``create_table`` arguments (``fit_rows``, ``nlist``...).
    """

    def __init__(
        self,
        uri: str,
        *,
        codec: str,
        metric: str,
        mode: str,
        create_kwargs: dict[str, Any] | None = None,
    ) -> None:
        # Local paths are made absolute: the table's side files need a full URI.
        self.uri = uri if "://" in uri else str(Path(uri).expanduser().resolve())
        self._codec = codec
        self._metric = metric
        self._mode = mode
        self._create_kwargs = dict(create_kwargs or {})
        self._lock = threading.Lock()
        self._table: CompressedTable | None = None
        from lance_spiral.table import open_table

        try:
            self._table = open_table(self.uri)
        except (KeyError, FileNotFoundError, ValueError, OSError):
            self._table = None

    @property
    def table(self) -> CompressedTable | None:
        """The underlying table (None until the first write)."""
        return self._table

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata_json: Sequence[str],
        vectors: npt.NDArray[np.float32],
        extra: dict[str, pa.Array] | None = None,
    ) -> None:
        """Insert or replace rows by id (the last of duplicate ids in one call wins)."""
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise InvalidInputError(
                f"expected {len(ids)} embeddings, got an array of shape {vectors.shape}"
            )
        last = {i: n for n, i in enumerate(ids)}
        keep = sorted(last.values())
        cols: dict[str, pa.Array] = {
            ID: pa.array([ids[n] for n in keep], pa.string()),
            TEXT: pa.array([texts[n] for n in keep], pa.string()),
            METADATA: pa.array([metadata_json[n] for n in keep], pa.json_(pa.utf8())),
            VECTOR: pa.FixedSizeListArray.from_arrays(
                pa.array(vectors[keep].reshape(-1), pa.float32()), vectors.shape[1]
            ),
        }
        for name, arr in (extra or {}).items():
            cols[name] = arr.take(pa.array(keep))
        data = pa.table(cols)
        with self._lock:
            if self._table is None:
                from lance_spiral.table import create_table

                self._table = create_table(
                    self.uri,
                    data,
                    codec=self._codec,
                    metric=self._metric,
                    mode=self._mode,
                    **{"progress": False, **self._create_kwargs},
                )
            else:
                self._table.upsert(data)

    def delete_ids(self, ids: Sequence[str]) -> None:
        """Delete rows by id; unknown ids are ignored."""
        if self._table is not None and ids:
            with self._lock:
                self._table.delete_ids(list(ids))

    def delete_where(self, where: str) -> None:
        """Delete the rows matching a SQL predicate."""
        if self._table is not None:
            with self._lock:
                self._table.delete(where)

    def get(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Rows for these ids, in the given order, missing ids skipped."""
        if self._table is None or not ids:
            return []
        return _rows(self._table.get(list(ids)))

    def where(self, where: str | None, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows matching a predicate (all rows for None), in no particular order."""
        if self._table is None:
            return []
        m = self._table.meta
        return _rows(
            self._table.dataset.to_table(columns=[m.id_column, *m.payload], filter=where,
                                         limit=limit)
        )

    def count(self, where: str | None = None) -> int:
        """Number of rows (matching ``where``)."""
        return 0 if self._table is None else int(self._table.count_rows(where))

    def search(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        where: str | None,
        *,
        with_vectors: bool = False,
    ) -> tuple[list[dict[str, Any]], npt.NDArray[np.float32] | None]:
        """Top-k rows (best first, with ``_score``) and optionally their decoded vectors."""
        if self._table is None or self._table.count_rows() == 0:
            return [], None
        q = self._table.search(vector).limit(k).with_vectors(with_vectors)
        if where is not None:
            q = q.where(where, prefilter=True)
        result = q.to_arrow()
        vecs = None
        if with_vectors:
            col = result.column(VECTOR).combine_chunks()
            vecs = np.asarray(col.flatten(), dtype=np.float32).reshape(len(result), -1)
            result = result.drop_columns([VECTOR])
        return _rows(result), vecs


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    if METADATA in table.column_names:
        col = table.column(METADATA)
        if isinstance(col.type, pa.ExtensionType):
            idx = table.column_names.index(METADATA)
            table = table.set_column(idx, METADATA, col.cast(pa.string()))
    return table.to_pylist()

