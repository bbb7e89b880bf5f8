"""``$contains`` is type-exact on stored rows: a LangChain store's search against a Python oracle.

Rows are real SciFact documents and embeddings in a real Lance table; every row's ``tags`` list
mixes values whose text forms collide (``1`` / ``"1"`` / ``1.0`` / ``true`` / ``"true"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_lance_spiral import LanceSpiralVectorStore

N = 160
VALUES: list[Any] = [1, 2, 0, 1.0, 2.5, "1", "2", "true", "false", "", "it's", "é", True, False,
                     None]


class TableEmbeddings(Embeddings):
    """Real teacher embeddings of SciFact texts, looked up by text (no model run needed)."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t].astype(np.float64).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _metadata() -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    metas: list[dict[str, Any]] = [{"tags": [1, 2]}, {"tags": ["1", "2"]}, {"tags": [True]},
                                   {"tags": ["true"]}, {"tags": [1]}, {"tags": [1.0]},
                                   {"tags": "1"}, {"tags": [[1]]}, {}]
    while len(metas) < N:
        picks = rng.integers(0, len(VALUES), int(rng.integers(0, 4)))
        metas.append({"tags": [VALUES[int(i)] for i in picks], "n": len(metas)})
    return metas


METAS = _metadata()


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers as numbers; booleans and null equal only themselves."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return isinstance(a, str) and isinstance(b, str) and a == b


def holds(meta: dict[str, Any], value: Any) -> bool:
    tags = meta.get("tags")
    return isinstance(tags, list) and any(json_equal(t, value) for t in tags)


@pytest.fixture(scope="module")
def store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> LanceSpiralVectorStore:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, lines[:N])]
    emb = np.asarray(np.load(shared_data / "scifact" / "corpus_emb.npy", mmap_mode="r")[:N],
                     dtype=np.float32)
    s = LanceSpiralVectorStore(TableEmbeddings(dict(zip(texts, emb, strict=True))),
                               tmp_path_factory.mktemp("lc-types") / "s.lance")
    s.add_embeddings(texts, emb.tolist(), METAS, ids=[f"d{i}" for i in range(N)])
    return s


def _found(store: LanceSpiralVectorStore, flt: dict[str, Any]) -> set[int]:
    query = [1.0] + [0.0] * 383  # any query: k = N returns every row the filter keeps
    docs = store.similarity_search_by_vector(query, k=N, filter=flt)
    return {int(str(d.id)[1:]) for d in docs}


def test_stored_metadata_keeps_its_json_types(store: LanceSpiralVectorStore) -> None:
    back = store.get_by_ids(["d0", "d1", "d5"])
    assert [d.metadata["tags"] for d in back] == [[1, 2], ["1", "2"], [1.0]]
    assert type(back[2].metadata["tags"][0]) is float


def test_reported_confusions(store: LanceSpiralVectorStore) -> None:
    assert 0 not in _found(store, {"tags": {"$contains": "1"}})
    assert 1 not in _found(store, {"tags": {"$contains": 1}})
    assert 2 not in _found(store, {"tags": {"$contains": "true"}})
    assert {4, 5} <= _found(store, {"tags": {"$contains": 1.0}})
    assert 2 not in _found(store, {"tags": {"$contains": 1}})
    assert not {6, 7, 8} & _found(store, {"tags": {"$contains": 1}})


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_contains_matches_the_oracle(store: LanceSpiralVectorStore, value: Any) -> None:
    want = {i for i, m in enumerate(METAS) if holds(m, value)}
    assert _found(store, {"tags": {"$contains": value}}) == want
    assert _found(store, {"$not": {"tags": {"$contains": value}}}) == set(range(N)) - want


def test_contains_in_logical_filters(store: LanceSpiralVectorStore) -> None:
    got = _found(store, {"$or": [{"tags": {"$contains": "1"}}, {"tags": {"$contains": True}}]})
    assert got == {i for i, m in enumerate(METAS) if holds(m, "1") or holds(m, True)}
    got = _found(store, {"$and": [{"tags": {"$contains": 1}}, {"tags": {"$contains": 2}}]})
    assert got == {i for i, m in enumerate(METAS) if holds(m, 1) and holds(m, 2)}
