"""Argument parsing of ``add_embeddings``: FAISS's ``(text, vector)`` pairs or parallel lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lance_spiral.errors import InvalidInputError, InvalidParameterError

__all__ = ["embedding_rows"]

_PAIRS = ("metadatas", "ids")
_LISTS = ("embeddings", "metadatas", "ids")


def embedding_rows(first: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
                   ) -> tuple[list[str], Any, Any, Any]:
    """``(texts, embeddings, metadatas, ids)`` from either spelling of ``add_embeddings``.

    * FAISS: ``add_embeddings([(text, vector), ...], metadatas=None, ids=None)``;
    * lists: ``add_embeddings(texts, embeddings, metadatas=None, ids=None)``.

    Raises:
        InvalidInputError: Items that are neither texts nor ``(text, vector)`` pairs.
        InvalidParameterError: Unknown or repeated arguments.
    """
    items = list(first)
    lists = bool(items) and all(isinstance(t, str) for t in items)
    if not items:
        lists = bool(args) or "embeddings" in kwargs
    names = _LISTS if lists else _PAIRS
    if len(args) > len(names):
        raise InvalidParameterError(f"add_embeddings takes at most {len(names) + 1} positional"
                                    f" arguments in this form, got {len(args) + 1}")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise InvalidParameterError(
                f"add_embeddings() got unsupported keyword argument {key!r}; it takes"
                f" {list(names)} (FAISS form: pairs, metadatas, ids; list form: texts,"
                " embeddings, metadatas, ids)")
        if key in bound:
            raise InvalidParameterError(f"add_embeddings() got {key!r} twice")
        bound[key] = value
    if lists:
        if bound.get("embeddings") is None:
            raise InvalidInputError("add_embeddings(texts, embeddings): embeddings are missing")
        return items, bound["embeddings"], bound.get("metadatas"), bound.get("ids")
    texts: list[str] = []
    vectors: list[Any] = []
    for n, item in enumerate(items):
        if (isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2
                or not isinstance(item[0], str)):
            raise InvalidInputError(
                f"add_embeddings: item {n} is not a (text, vector) pair; pass pairs, as FAISS"
                " does, or add_embeddings(texts, embeddings, metadatas, ids=...)")
        texts.append(item[0])
        vectors.append(item[1])
    return texts, vectors, bound.get("metadatas"), bound.get("ids")
