"""CONTAINS / ANY / ALL are type-exact on stored rows: a LlamaIndex store against a Python oracle.

Rows are real SciFact documents and embeddings in a real Lance table; every node's ``tags`` list
mixes values whose text forms collide (``1`` / ``"1"`` / ``1.0`` / ``true`` / ``"true"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lance_spiral_llamaindex import LanceSpiralVectorStore
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

N = 160
STORED: list[Any] = [1, 2, 0, 1.0, 2.5, "1", "2", "true", "", "it's", "é", True, False, None]
VALUES: list[Any] = [1, 2, 0, 1.0, 2.5, "1", "2", "true", "", "it's", "é"]  # what LlamaIndex
# accepts as a filter value: int, float, str, or a list of one of them (no bool, no None)


def _metadata() -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    metas: list[dict[str, Any]] = [{"tags": [1, 2]}, {"tags": ["1", "2"]}, {"tags": [True]},
                                   {"tags": ["true"]}, {"tags": [1]}, {"tags": [1.0]},
                                   {"tags": "1"}, {"tags": "a 1 b"}, {}]
    while len(metas) < N:
        picks = rng.integers(0, len(STORED), int(rng.integers(0, 4)))
        metas.append({"tags": [STORED[int(i)] for i in picks], "n": len(metas)})
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


def contains(meta: dict[str, Any], value: Any) -> bool:
    """LlamaIndex CONTAINS: list membership, or a substring of a string value."""
    tags = meta.get("tags")
    if isinstance(tags, str):
        return isinstance(value, str) and value in tags
    return holds(meta, value)


@pytest.fixture(scope="module")
def store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> LanceSpiralVectorStore:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, lines[:N])]
    emb = np.load(shared_data / "scifact" / "corpus_emb.npy", mmap_mode="r")[:N]
    nodes = [TextNode(id_=f"n{i}", text=t, embedding=np.asarray(v, np.float32).tolist(),
                      metadata=m)
             for i, (t, v, m) in enumerate(zip(texts, emb, METAS, strict=True))]
    s = LanceSpiralVectorStore(tmp_path_factory.mktemp("li-types") / "s.lance")
    s.add(nodes)
    return s


def _one(op: FilterOperator, value: Any) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key="tags", operator=op, value=value)])


def _found(store: LanceSpiralVectorStore, filters: MetadataFilters) -> set[int]:
    """Node numbers matched by ``filters``, read both ways the store filters (and compared)."""
    by_get = {int(n.node_id[1:]) for n in store.get_nodes(filters=filters)}
    res = store.query(VectorStoreQuery(query_embedding=[1.0] + [0.0] * 383,
                                       similarity_top_k=N, filters=filters))
    assert res.ids is not None
    assert {int(i[1:]) for i in res.ids} == by_get
    return by_get


def test_reported_confusions(store: LanceSpiralVectorStore) -> None:
    assert 0 not in _found(store, _one(FilterOperator.CONTAINS, "1"))
    assert 1 not in _found(store, _one(FilterOperator.CONTAINS, 1))
    assert 2 not in _found(store, _one(FilterOperator.CONTAINS, "true"))
    assert 2 not in _found(store, _one(FilterOperator.CONTAINS, 1))  # [true] holds no number
    assert {4, 5} <= _found(store, _one(FilterOperator.CONTAINS, 1.0))
    assert {6, 7} <= _found(store, _one(FilterOperator.CONTAINS, "1"))  # substring of a string
    assert not {6, 7} & _found(store, _one(FilterOperator.CONTAINS, 1))


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_contains_matches_the_oracle(store: LanceSpiralVectorStore, value: Any) -> None:
    want = {i for i, m in enumerate(METAS) if contains(m, value)}
    assert _found(store, _one(FilterOperator.CONTAINS, value)) == want
    negated = MetadataFilters(filters=_one(FilterOperator.CONTAINS, value).filters,
                              condition=FilterCondition.NOT)
    assert _found(store, negated) == set(range(N)) - want


@pytest.mark.parametrize("values", [["1", "true"], [1, 2], [1.0, 2.5], ["é", "", "2"]],
                         ids=repr)
def test_any_and_all_match_the_oracle(store: LanceSpiralVectorStore, values: list[Any]) -> None:
    assert _found(store, _one(FilterOperator.ANY, values)) == {
        i for i, m in enumerate(METAS) if any(holds(m, v) for v in values)}
    assert _found(store, _one(FilterOperator.ALL, values)) == {
        i for i, m in enumerate(METAS) if all(holds(m, v) for v in values)}
