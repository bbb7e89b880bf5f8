"""The work a Ray worker does on one batch of an ingest: embed (optional), validate, encode.

A :class:`BatchEncoder` is built once on the driver from the fitted plan (table metadata, codec
bytes, aux arrays, output schema) and shipped to the workers by Ray; it is the ``transform`` of
lance-ray's :class:`~lance_ray.LanceFragmentWriter`, so encoding and the fragment write happen
in the same worker process. Its output has exactly the schema the driver commits.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.codecs import Codec, load_codec
from lance_spiral.embed.protocol import check_texts
from lance_spiral.errors import DTypeError, InvalidInputError
from lance_spiral.table.encode import conform, encode_batch
from lance_spiral.table.ingest import iter_batches
from lance_spiral.table.meta import TableMeta

__all__ = ["BatchEncoder", "embed_column", "resolve_embedder"]


def resolve_embedder(embed: Any) -> Any:
    """``None`` -> ``None``; ``"default"`` -> the shipped approximator; else an embedder.

    Raises:
        DTypeError: ``embed`` has no ``embed(list[str])`` method.
    """
    if embed is None:
        return None
    if isinstance(embed, str):
        if embed != "default":
            raise InvalidInputError(f"embed must be None, 'default' or an embedder, got {embed!r}")
        from lance_spiral.embed.approximator import shared_approximator

        return shared_approximator()
    if not callable(getattr(embed, "embed", None)):
        raise DTypeError(f"embed must have an embed(list[str]) method, got {type(embed).__name__}")
    return embed


def embed_column(tbl: pa.Table, embedder: Any, text_column: str, vector_column: str
                 ) -> pa.Table:
    """``tbl`` with ``vector_column`` added: the embeddings of ``text_column``.

    Raises:
        InvalidInputError: No text column, null texts, or a vector column already present.
    """
    names = tbl.column_names
    if text_column not in names:
        raise InvalidInputError(f"data has no text column {text_column!r} (columns: {names})")
    if vector_column in names:
        raise InvalidInputError(f"data has a {vector_column!r} column and embed= is set: give"
                                " vectors or texts to embed, not both")
    col = tbl.column(text_column)
    if col.null_count:
        raise InvalidInputError(f"text column {text_column!r} has {col.null_count} null text(s)")
    texts = check_texts(col.to_pylist(), name=f"column {text_column!r}")
    vecs: npt.NDArray[np.float32] = np.ascontiguousarray(embedder.embed(texts), np.float32)
    return tbl.append_column(vector_column, pa.FixedSizeListArray.from_arrays(
        pa.array(vecs.reshape(-1), pa.float32()), vecs.shape[1]))


class BatchEncoder:
    """Callable run by Ray workers: a source batch -> rows in the table's layout.

    Args:
        meta: The table metadata (codec and aux files already stored).
        codec_bytes: The fitted codec (:meth:`Codec.to_bytes`; the versioned format, no pickle).
        aux: Candidate-code centre and IVF centroids (compressed mode), or ``None``.
        schema: The table schema the rows are conformed to (with its metadata).
        embed: ``None``, ``"default"`` or an embedder object (texts embedded in the worker).
        text_column: Column of texts to embed.
    """

    def __init__(self, meta: TableMeta, codec_bytes: bytes,
                 aux: dict[str, npt.NDArray[Any]] | None, schema: pa.Schema, *,
                 embed: Any = None, text_column: str = "text") -> None:
        self.meta_json = meta.to_json()
        self.codec_bytes = codec_bytes
        self.aux = aux
        self.schema = schema
        self.embed = embed
        self.text_column = text_column
        self._codec: Codec | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_codec"] = None
        return state

    def codec(self) -> Codec:
        """The codec, loaded once per worker from its bytes."""
        if self._codec is None:
            self._codec = load_codec(self.codec_bytes)
        return self._codec

    def __call__(self, tbl: pa.Table) -> pa.Table:
        """Embed (optional), validate and encode one batch."""
        meta = TableMeta(**json.loads(self.meta_json.decode("utf-8")))
        if self.embed is not None:
            tbl = embed_column(tbl, resolve_embedder(self.embed), self.text_column,
                               meta.vector_column)
        parts = [conform(encode_batch(meta, self.codec(), self.aux, rb), self.schema)
                 for rb in iter_batches(tbl, vector_column=meta.vector_column,
                                        id_column=meta.id_column)]
        if not parts:
            return self.schema.empty_table()
        return pa.concat_tables(parts)

