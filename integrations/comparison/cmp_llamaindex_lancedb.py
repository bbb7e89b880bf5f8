# ruff: noqa: D103
"""One contract, asked of llama-index's ``LanceDBVectorStore`` and of ours.

One test per method / operator. ``CMP_STORE=lancedb`` (default) tests
``llama_index.vector_stores.lancedb.LanceDBVectorStore`` (run it in the comparison virtualenv,
see integrations/README.md); ``CMP_STORE=lance-spiral`` tests ours (run it in the project venv).
Not part of the project's test suite.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

N = 40
RNG = np.random.default_rng(0)
EMB = RNG.standard_normal((N, 16)).astype(np.float32)
EMB /= np.linalg.norm(EMB, axis=1, keepdims=True)


def _nodes() -> list[TextNode]:
    out = []
    for i in range(N):
        node = TextNode(id_=f"n{i}", text=f"text {i}", embedding=EMB[i].tolist(),
                        metadata={"i": i, "group": "ab"[i % 2], "title": f"deep {i}"})
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i // 4}")
        out.append(node)
    return out


@pytest.fixture
def store(tmp_path: Path) -> Any:
    if os.environ.get("CMP_STORE", "lancedb") == "lance-spiral":
        from lance_spiral_llamaindex import LanceSpiralVectorStore

        s: Any = LanceSpiralVectorStore(tmp_path / "t.lance")
    else:
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        s = LanceDBVectorStore(uri=str(tmp_path / "db"), table_name="t")
    s.add(_nodes())
    return s


def _ids(store: Any, flt: MetadataFilters | None = None, k: int = N, **kw: Any) -> set[str]:
    res = store.query(VectorStoreQuery(query_embedding=EMB[0].tolist(), similarity_top_k=k,
                                       filters=flt, **kw))
    return {n.node_id for n in res.nodes}


def _flt(key: str, op: FilterOperator, value: Any) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=key, operator=op, value=value)])


def test_query_default(store: Any) -> None:
    res = store.query(VectorStoreQuery(query_embedding=EMB[3].tolist(), similarity_top_k=3))
    assert res.ids[0] == "n3"


def test_delete_by_ref_doc_id(store: Any) -> None:
    store.delete("doc0")
    assert not {"n0", "n1", "n2", "n3"} & _ids(store)


def test_delete_nodes(store: Any) -> None:
    store.delete_nodes(["n5"])
    assert "n5" not in _ids(store)


def test_get_nodes(store: Any) -> None:
    assert [n.node_id for n in store.get_nodes(["n2"])] == ["n2"]


def test_clear(store: Any) -> None:
    store.clear()
    assert _ids(store) == set()


def test_mmr(store: Any) -> None:
    assert len(_ids(store, k=5, mode=VectorStoreQueryMode.MMR)) == 5


CASES = [
    ("group", FilterOperator.EQ, "a", {f"n{i}" for i in range(0, N, 2)}),
    ("title", FilterOperator.NE, "deep", {f"n{i}" for i in range(N)}),
    ("i", FilterOperator.GT, 30, {f"n{i}" for i in range(31, N)}),
    ("i", FilterOperator.LTE, 3, {"n0", "n1", "n2", "n3"}),
    ("i", FilterOperator.IN, [1, 2], {"n1", "n2"}),
    ("i", FilterOperator.NIN, [1, 2], {f"n{i}" for i in range(N)} - {"n1", "n2"}),
    ("title", FilterOperator.TEXT_MATCH, "deep 3", {"n3"} | {f"n{i}" for i in range(30, 40)}),
]


@pytest.mark.parametrize(("key", "op", "value", "want"), CASES,
                         ids=[f"{c[0]}-{c[1].value}" for c in CASES])
def test_filter(store: Any, key: str, op: FilterOperator, value: Any, want: set[str]) -> None:
    assert _ids(store, _flt(key, op, value)) == want


def test_nested_filters(store: Any) -> None:
    inner = MetadataFilters(filters=[MetadataFilter(key="i", value=1),
                                     MetadataFilter(key="i", value=2)], condition="or")
    outer = MetadataFilters(filters=[inner, MetadataFilter(key="group", value="b")])
    assert _ids(store, outer) == {"n1"}
