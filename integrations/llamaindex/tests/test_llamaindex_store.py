"""Contract tests of the LlamaIndex vector store: every method, sync and async, on real Lance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lance_spiral_llamaindex import LanceSpiralVectorStore
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from lance_spiral.errors import InvalidInputError, InvalidParameterError

N = 240


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> tuple[list[str], np.ndarray]:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(x) for x in lines[:N]]
    emb = np.load(shared_data / "scifact" / "corpus_emb.npy", mmap_mode="r")[:N]
    return [f"{d['title']} {d['text']}" for d in docs], np.asarray(emb, dtype=np.float32)


def _nodes(corpus: tuple[list[str], np.ndarray]) -> list[TextNode]:
    texts, emb = corpus
    nodes = []
    for i, (text, vec) in enumerate(zip(texts, emb, strict=True)):
        node = TextNode(
            id_=f"n{i}", text=text, embedding=vec.tolist(),
            metadata={"i": i, "doc": f"doc{i // 4}", "tags": ["even" if i % 2 == 0 else "odd"],
                      "w": i / 8},
            excluded_llm_metadata_keys=["w"],
        )
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i // 4}")
        nodes.append(node)
    return nodes


@pytest.fixture
def store(tmp_path: Path, corpus: tuple[list[str], np.ndarray]) -> LanceSpiralVectorStore:
    s = LanceSpiralVectorStore(tmp_path / "li.lance")
    assert s.add(_nodes(corpus)) == [f"n{i}" for i in range(N)]
    return s


def _q(corpus: tuple[list[str], np.ndarray], i: int, k: int = 5, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=corpus[1][i].tolist(), similarity_top_k=k, **kw)


def test_add_round_trips_nodes_exactly(store: LanceSpiralVectorStore, corpus: Any) -> None:
    original = _nodes(corpus)[:3]
    back = store.get_nodes(["n2", "n0", "n1"])
    assert [n.node_id for n in back] == ["n2", "n0", "n1"]
    for got, want in zip(back, [original[2], original[0], original[1]], strict=True):
        assert got.get_content() == want.get_content()
        assert got.metadata == want.metadata
        assert got.ref_doc_id == want.ref_doc_id
        assert got.excluded_llm_metadata_keys == ["w"]
        assert type(got.metadata["w"]) is float and type(got.metadata["i"]) is int
    assert store.stores_text is True
    assert store.client is not None


def test_query_default_mode(store: LanceSpiralVectorStore, corpus: Any) -> None:
    res = store.query(_q(corpus, 10, k=5))
    assert res.ids is not None and res.ids[0] == "n10" and len(res.ids) == 5
    assert res.similarities is not None and res.similarities[0] > 0.98
    assert res.similarities == sorted(res.similarities, reverse=True)
    assert res.nodes is not None and res.nodes[0].get_content() == corpus[0][10]


def test_query_with_filters_doc_ids_and_node_ids(
    store: LanceSpiralVectorStore, corpus: Any
) -> None:
    flt = MetadataFilters(
        filters=[
            MetadataFilter(key="i", operator=FilterOperator.GTE, value=100),
            MetadataFilters(
                filters=[MetadataFilter(key="tags", operator=FilterOperator.CONTAINS, value="odd")],
                condition=FilterCondition.NOT,
            ),
        ]
    )
    res = store.query(_q(corpus, 10, k=N, filters=flt))
    assert res.nodes is not None
    assert {n.metadata["i"] for n in res.nodes} == set(range(100, N, 2))
    res = store.query(_q(corpus, 10, k=10, doc_ids=["doc2", "doc3"]))
    assert res.ids is not None and set(res.ids) == {f"n{i}" for i in range(8, 16)}
    res = store.query(_q(corpus, 10, k=10, node_ids=["n1", "n200"]))
    assert res.ids is not None and set(res.ids) == {"n1", "n200"}


def test_query_mmr_mode(store: LanceSpiralVectorStore, corpus: Any) -> None:
    plain = store.query(_q(corpus, 20, k=5))
    mmr = store.query(_q(corpus, 20, k=5, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.2))
    assert mmr.ids is not None and plain.ids is not None
    assert mmr.ids[0] == plain.ids[0] == "n20" and len(set(mmr.ids)) == 5
    emb = corpus[1]

    def spread(ids: list[str]) -> float:
        v = emb[[int(i[1:]) for i in ids]]
        s = v @ v.T
        return float(s[np.triu_indices(len(ids), 1)].mean())

    assert spread(mmr.ids) < spread(plain.ids)
    same = store.query(_q(corpus, 20, k=5, mode=VectorStoreQueryMode.MMR, mmr_threshold=1.0))
    assert same.ids == plain.ids


def test_unsupported_mode_and_missing_embedding(store: LanceSpiralVectorStore, corpus: Any) -> None:
    with pytest.raises(InvalidParameterError, match="not supported"):
        store.query(_q(corpus, 0, mode=VectorStoreQueryMode.SPARSE))
    with pytest.raises(InvalidParameterError, match="query_embedding"):
        store.query(VectorStoreQuery(query_embedding=None, similarity_top_k=2))


def test_delete_by_ref_doc_id(store: LanceSpiralVectorStore, corpus: Any) -> None:
    store.delete("doc0")
    store.delete("no-such-doc")
    assert store.get_nodes(["n0", "n1", "n2", "n3", "n4"])[0].node_id == "n4"
    assert len(store.get_nodes(["n0", "n1", "n2", "n3"])) == 0


def test_delete_nodes_by_ids_and_filters(store: LanceSpiralVectorStore) -> None:
    store.delete_nodes(["n5", "n6", "missing"])
    assert [n.node_id for n in store.get_nodes(["n4", "n5", "n6", "n7"])] == ["n4", "n7"]
    store.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="i", operator="<",
                                                                       value=50)]))
    left = store.get_nodes()
    assert len(left) == N - 50 and min(n.metadata["i"] for n in left) == 50
    both = MetadataFilters(filters=[MetadataFilter(key="tags", operator="any", value=["odd"])])
    store.delete_nodes(["n51", "n52"], filters=both)  # only n51 is odd
    assert {n.node_id for n in store.get_nodes(["n51", "n52"])} == {"n52"}


def test_get_nodes_with_filters(store: LanceSpiralVectorStore) -> None:
    flt = MetadataFilters(
        filters=[MetadataFilter(key="doc", operator=FilterOperator.IN, value=["doc1", "doc59"]),
                 MetadataFilter(key="w", operator=FilterOperator.LT, value=1.0)],
        condition=FilterCondition.AND,
    )
    assert {n.node_id for n in store.get_nodes(filters=flt)} == {"n4", "n5", "n6", "n7"}
    assert {n.node_id for n in store.get_nodes(["n4", "n200"], filters=flt)} == {"n4"}


def test_upsert_replaces_a_node(store: LanceSpiralVectorStore, corpus: Any) -> None:
    node = _nodes(corpus)[3]
    node.text = "replaced text"
    node.metadata = {"new": True}
    store.add([node])
    got = store.get_nodes(["n3"])
    assert len(got) == 1 and got[0].get_content() == "replaced text"
    assert got[0].metadata == {"new": True}
    assert len(store.get_nodes()) == N


def test_clear(store: LanceSpiralVectorStore, corpus: Any) -> None:
    store.clear()
    assert store.get_nodes() == []
    res = store.query(_q(corpus, 0))
    assert res.ids == [] and res.nodes == []


async def test_async_methods(store: LanceSpiralVectorStore, corpus: Any) -> None:
    res = await store.aquery(_q(corpus, 30, k=3))
    assert res.ids is not None and res.ids[0] == "n30"
    await store.adelete("doc7")  # n28..n31
    assert await store.aget_nodes(["n28", "n31"]) == []
    await store.adelete_nodes(["n32"])
    assert await store.aget_nodes(["n32"]) == []
    extra = _nodes(corpus)[28:29]
    assert await store.async_add(extra) == ["n28"]
    assert [n.node_id for n in await store.aget_nodes(["n28"])] == ["n28"]
    await store.aclear()
    assert await store.aget_nodes() == []


def test_empty_store_and_bad_input(tmp_path: Path, corpus: Any) -> None:
    s = LanceSpiralVectorStore(tmp_path / "empty.lance")
    assert s.query(_q(corpus, 0)).ids == []
    assert s.get_nodes() == []
    s.delete("x")
    s.delete_nodes(["x"])
    s.clear()
    with pytest.raises(InvalidInputError, match="without an embedding"):
        s.add([TextNode(text="no vector")])
    with pytest.raises(InvalidParameterError, match="metric"):
        LanceSpiralVectorStore(tmp_path / "m.lance", metric="hamming")
