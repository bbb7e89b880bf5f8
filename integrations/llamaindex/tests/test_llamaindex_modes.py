"""The LlamaIndex store beyond the contract: query kwargs, text and hybrid modes, serialisation,
database folders, index knobs, and add + query from threads (issue 22 item 2), on real SciFact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lance_spiral_llamaindex import LanceSpiralVectorStore
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from lance_spiral.errors import InvalidInputError, InvalidParameterError
from tests.support.threads import write_while_reading

N = 200


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> tuple[list[str], np.ndarray]:
    sf = shared_data / "scifact"
    lines = (sf / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:N]
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, lines)]
    return texts, np.asarray(np.load(sf / "corpus_emb.npy", mmap_mode="r")[:N], np.float32)


def _nodes(corpus: tuple[list[str], np.ndarray], lo: int = 0, hi: int = N) -> list[TextNode]:
    texts, emb = corpus
    out = []
    for i in range(lo, hi):
        node = TextNode(id_=f"n{i}", text=texts[i], embedding=emb[i].tolist(),
                        metadata={"i": i, "part": i % 3})
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i // 4}")
        out.append(node)
    return out


@pytest.fixture(scope="module")
def store(corpus: tuple[list[str], np.ndarray], tmp_path_factory: pytest.TempPathFactory
          ) -> LanceSpiralVectorStore:
    s = LanceSpiralVectorStore(tmp_path_factory.mktemp("li-modes"), table_name="docs",
                               table_kwargs={"fit_rows": 1})
    s.add(_nodes(corpus))
    return s


def _q(corpus: tuple[list[str], np.ndarray], i: int, k: int = 5, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=corpus[1][i].tolist(), similarity_top_k=k, **kw)


def test_query_where_and_where_document(store: LanceSpiralVectorStore, corpus: Any) -> None:
    res = store.query(_q(corpus, 0, k=N), where={"part": 1})
    assert res.nodes and {n.metadata["part"] for n in res.nodes} == {1}
    flt = MetadataFilters(filters=[MetadataFilter(key="i", operator=FilterOperator.LT,
                                                  value=100)])
    both = store.query(_q(corpus, 0, k=N, filters=flt), where={"part": {"$in": [0, 2]}})
    assert both.nodes and all(n.metadata["i"] < 100 and n.metadata["part"] != 1
                              for n in both.nodes)
    text = store.query(_q(corpus, 0, k=N), where_document={"$contains": "cancer"})
    assert {n.node_id for n in text.nodes or []} == {
        f"n{i}" for i, t in enumerate(corpus[0]) if "cancer" in t}
    raw = store.query(_q(corpus, 0, k=N), sql="id = 'n3'")
    assert [n.node_id for n in raw.nodes or []] == ["n3"]
    with pytest.raises(InvalidParameterError, match="unsupported"):
        store.query(_q(corpus, 0), wheres={"part": 1})
    with pytest.raises(InvalidInputError, match="sql="):
        store.query(_q(corpus, 0), where="part = 1")


def test_text_search_and_hybrid_modes(store: LanceSpiralVectorStore, corpus: Any) -> None:
    texts = corpus[0]
    res = store.query(VectorStoreQuery(query_str="tumor cells", similarity_top_k=5,
                                       mode=VectorStoreQueryMode.TEXT_SEARCH))
    assert res.nodes and all("tumor" in n.get_content().lower() or "cell" in
                             n.get_content().lower() for n in res.nodes)
    assert res.similarities == sorted(res.similarities or [], reverse=True)
    hybrid = store.query(_q(corpus, 17, k=3, query_str=texts[17],
                            mode=VectorStoreQueryMode.HYBRID))
    assert hybrid.ids is not None and hybrid.ids[0] == "n17" and len(hybrid.ids) == 3
    vec_only = store.query(_q(corpus, 17, k=5, query_str=texts[17], alpha=1.0,
                              mode=VectorStoreQueryMode.HYBRID))
    assert vec_only.ids == store.query(_q(corpus, 17, k=5)).ids
    filtered = store.query(_q(corpus, 17, k=5, query_str=texts[17], doc_ids=["doc1", "doc2"],
                              mode=VectorStoreQueryMode.HYBRID))
    assert set(filtered.ids or []) <= {f"n{i}" for i in range(4, 12)}
    with pytest.raises(InvalidParameterError, match="query_str"):
        store.query(_q(corpus, 0, mode=VectorStoreQueryMode.TEXT_SEARCH))


def test_to_dict_reports_the_stored_codec(corpus: Any, tmp_path: Path) -> None:
    small = LanceSpiralVectorStore(tmp_path, table_name="small")
    assert small.to_dict()["stored_codec"] is None
    small.add(_nodes(corpus, 0, 20))
    d = small.to_dict()
    assert d["codec"] == "sq:bits=8" and d["stored_codec"] == small.client.codec.spec
    again = LanceSpiralVectorStore.from_dict(d)
    assert len(again.get_nodes()) == 20 and again.table_name == "small"
    with pytest.raises(InvalidParameterError, match="already exists with codec"):
        LanceSpiralVectorStore(tmp_path, table_name="small", codec="sq:bits=4")
    with pytest.raises(InvalidParameterError, match="unsupported"):
        LanceSpiralVectorStore(tmp_path, table_name="x", overwrite=True)
    with pytest.raises(InvalidParameterError, match="keyword arguments"):
        small.add(_nodes(corpus, 20, 21), batch=True)


def test_nprobes_and_rerank_reach_the_table(corpus: Any, tmp_path: Path) -> None:
    store = LanceSpiralVectorStore(tmp_path / "knobs.lance", nprobes=2, rerank=40)
    assert (store.nprobes, store.rerank) == (2, 40)
    store.add(_nodes(corpus, 0, 30))
    assert store.query(_q(corpus, 3, k=3), nprobes=1, refine_factor=4).ids[0] == "n3"
    with pytest.raises(InvalidParameterError, match="nprobes"):
        store.query(_q(corpus, 3), nprobes=0)
    with pytest.raises(InvalidParameterError, match="rerank"):
        LanceSpiralVectorStore(tmp_path / "bad.lance", rerank=0)


def test_add_and_query_from_threads(corpus: Any, tmp_path: Path) -> None:
    store = LanceSpiralVectorStore(tmp_path / "threads.lance", table_kwargs={"fit_rows": 1})
    store.add(_nodes(corpus, 0, 120))
    def write() -> None:
        for lo in range(120, N, 10):
            store.add(_nodes(corpus, lo, lo + 10))

    def read_once(rng: np.random.Generator) -> list[str]:
        i = int(rng.integers(0, 120))
        res = store.query(_q(corpus, i, k=3))
        wrong = [] if res.ids and res.ids[0] == f"n{i}" else [f"n{i} -> {res.ids}"]
        return wrong + [f"{n.node_id} has another node's text" for n in res.nodes or []
                        if n.get_content() != corpus[0][int(n.node_id[1:])]]

    errors, _ = write_while_reading(write, read_once)
    assert not errors, errors[:5]
    assert len(store.get_nodes()) == N


def test_disk_memory_mode(corpus: Any, tmp_path: Path) -> None:
    store = LanceSpiralVectorStore(tmp_path / "disk.lance", memory="disk",
                                   cache_dir=tmp_path / "cache", table_kwargs={"fit_rows": 1})
    store.add(_nodes(corpus, 0, 60))
    assert store.client.memory == "disk" and store.client.resident_bytes() / 60 < 100
    assert store.query(_q(corpus, 9, k=1)).ids == ["n9"]
    d = store.to_dict()
    assert (d["memory"], d["cache_dir"]) == ("disk", str(tmp_path / "cache"))
    again = LanceSpiralVectorStore.from_dict(d)
    assert again.client.memory == "disk" and again.query(_q(corpus, 31, k=1)).ids == ["n31"]
