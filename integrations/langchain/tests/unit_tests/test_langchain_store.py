"""LanceSpiralVectorStore beyond the standard suite: filters, metadata types, MMR, scores, SQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_lance_spiral import LanceSpiralVectorStore, filter_to_sql

from lance_spiral.errors import InvalidInputError, InvalidParameterError

DIM = 384


class SciFactEmbeddings(Embeddings):
    """Real teacher embeddings of SciFact texts, looked up by text (no model run needed)."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t].astype(np.float64).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def scifact(shared_data: Path) -> tuple[list[str], np.ndarray]:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(x) for x in lines[:300]]
    texts = [f"{d['title']} {d['text']}" for d in docs]
    emb = np.load(shared_data / "scifact" / "corpus_emb.npy", mmap_mode="r")[:300]
    return texts, np.asarray(emb, dtype=np.float32)


@pytest.fixture
def store(tmp_path: Path, scifact: tuple[list[str], np.ndarray]) -> LanceSpiralVectorStore:
    texts, emb = scifact
    embeddings = SciFactEmbeddings(dict(zip(texts, emb, strict=True)))
    metas: list[dict[str, Any]] = [
        {"n": i, "half": i % 2 == 0, "score": i / 10, "group": "abc"[i % 3],
         "tags": ["even" if i % 2 == 0 else "odd", f"m{i % 5}"]}
        for i in range(len(texts))
    ]
    for i in range(0, len(texts), 7):
        metas[i]["rare"] = None if i % 2 else f"r{i}"
    return LanceSpiralVectorStore.from_texts(
        texts, embeddings, metas, ids=[f"d{i}" for i in range(len(texts))],
        uri=tmp_path / "lc.lance",
    )


def _ids(docs: list[Document]) -> set[int]:
    return {int(str(d.id)[1:]) for d in docs}


FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({"group": "a"}, lambda m: m["group"] == "a"),
    ({"group": {"$ne": "a"}}, lambda m: m["group"] != "a"),
    ({"n": {"$gt": 250}}, lambda m: m["n"] > 250),
    ({"n": {"$gte": 250, "$lt": 260}}, lambda m: 250 <= m["n"] < 260),
    ({"score": {"$lte": 1.0}}, lambda m: m["score"] <= 1.0),
    ({"n": {"$in": [1, 2, 3, 299]}}, lambda m: m["n"] in (1, 2, 3, 299)),
    ({"group": {"$nin": ["a", "b"]}}, lambda m: m["group"] not in ("a", "b")),
    ({"half": True}, lambda m: m["half"] is True),
    ({"rare": {"$exists": True}}, lambda m: "rare" in m),
    ({"rare": {"$exists": False}}, lambda m: "rare" not in m),
    ({"rare": None}, lambda m: "rare" in m and m["rare"] is None),
    ({"rare": {"$like": "r1%"}}, lambda m: isinstance(m.get("rare"), str)
     and m["rare"].startswith("r1")),
    ({"tags": {"$contains": "m3"}}, lambda m: "m3" in m["tags"]),
    ({"n": {"$between": [10, 20]}}, lambda m: 10 <= m["n"] <= 20),
    ({"$or": [{"group": "a"}, {"n": {"$lt": 5}}]}, lambda m: m["group"] == "a" or m["n"] < 5),
    ({"$and": [{"group": "b"}, {"$not": {"half": True}}]},
     lambda m: m["group"] == "b" and not m["half"]),
    ({"group": "c", "half": False}, lambda m: m["group"] == "c" and not m["half"]),
]


@pytest.mark.parametrize(("flt", "pred"), FILTERS, ids=[json.dumps(f) for f, _ in FILTERS])
def test_dict_filters_select_exactly_the_matching_rows(
    store: LanceSpiralVectorStore, flt: dict[str, Any], pred: Any
) -> None:
    everything = store.get_by_ids([f"d{i}" for i in range(300)])
    expected = {int(str(d.id)[1:]) for d in everything if pred(d.metadata)}
    query = store.embeddings.embed_query(everything[0].page_content)
    got = store.similarity_search_by_vector(query, k=300, filter=flt)
    assert _ids(got) == expected
    assert expected  # every case selects something


def test_sql_opt_in_and_delete_by_filter(store: LanceSpiralVectorStore) -> None:
    q = store.get_by_ids(["d0"])[0].page_content
    with pytest.raises(InvalidInputError, match="sql="):
        store.similarity_search(q, k=50, filter="json_get_string(metadata, 'group') = 'b'")
    docs = store.similarity_search(q, k=50, sql="json_get_string(metadata, 'group') = 'b'")
    assert docs and all(d.metadata["group"] == "b" for d in docs)
    store.delete(filter={"group": "b"})
    assert store.similarity_search(q, k=300, filter={"group": "b"}) == []
    assert len(store.similarity_search(q, k=300)) == 200


def test_metadata_round_trips_with_exact_types(tmp_path: Path) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    metas: list[dict[str, Any]] = [
        {"i": 1, "f": 1.0, "big": 2**62, "s": "1", "b": False, "n": None, "l": [1, 2.5, "x"],
         "d": {"nested": {"k": [True]}}, "u": "é \"q\" 'x' \\"},
        {},
        {"only_here": -0.25},
    ]
    store = LanceSpiralVectorStore(DeterministicFakeEmbedding(size=8), tmp_path / "m.lance")
    ids = store.add_texts(["a", "b", "c"], metas)
    back = store.get_by_ids(ids)
    assert [d.metadata for d in back] == metas
    for want, got in zip(metas, back, strict=True):
        for key, value in want.items():
            assert type(got.metadata[key]) is type(value)


def test_mmr_returns_diverse_relevant_documents(store: LanceSpiralVectorStore) -> None:
    q = store.get_by_ids(["d5"])[0].page_content
    plain = store.similarity_search(q, k=5)
    mmr = store.max_marginal_relevance_search(q, k=5, fetch_k=30, lambda_mult=0.3)
    assert len(mmr) == 5 and len({d.id for d in mmr}) == 5
    assert mmr[0].id == plain[0].id == "d5"
    relevance_only = store.max_marginal_relevance_search(q, k=5, fetch_k=30, lambda_mult=1.0)
    assert [d.id for d in relevance_only] == [d.id for d in plain]

    def spread(docs: list[Document]) -> float:
        v = np.asarray(store.embeddings.embed_documents([d.page_content for d in docs]))
        sims = v @ v.T
        return float(sims[np.triu_indices(len(docs), 1)].mean())

    assert spread(mmr) < spread(plain)
    filtered = store.max_marginal_relevance_search(q, k=3, filter={"group": "a"})
    assert filtered and all(d.metadata["group"] == "a" for d in filtered)
    with pytest.raises(InvalidParameterError, match="lambda_mult"):
        store.max_marginal_relevance_search(q, lambda_mult=2.0)


def test_scores_relevance_threshold_and_retriever(store: LanceSpiralVectorStore) -> None:
    q = store.get_by_ids(["d7"])[0].page_content
    pairs = store.similarity_search_with_score(q, k=10)
    scores = [s for _, s in pairs]
    assert pairs[0][0].id == "d7" and scores[0] > 0.98  # SQ8 keeps self-similarity near 1
    assert scores == sorted(scores, reverse=True)
    rel = store.similarity_search_with_relevance_scores(q, k=10)
    assert all(0.0 <= r <= 1.0 for _, r in rel) and rel[0][1] > 0.99
    retriever = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.8, "k": 10}
    )
    docs = retriever.invoke(q)
    assert docs[0].id == "d7"
    assert len(docs) == sum(r >= 0.8 for _, r in rel)
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 3})
    assert len(mmr.invoke(q)) == 3


async def test_async_paths(store: LanceSpiralVectorStore) -> None:
    q = store.get_by_ids(["d9"])[0].page_content
    docs = await store.asimilarity_search(q, k=3, filter={"n": {"$lt": 100}})
    assert docs[0].id == "d9"
    pairs = await store.asimilarity_search_with_score(q, k=2)
    assert pairs[0][0].id == "d9"
    mmr = await store.amax_marginal_relevance_search(q, k=2)
    assert len(mmr) == 2
    await store.adelete(["d9"])
    assert await store.aget_by_ids(["d9"]) == []


def test_bad_input_is_rejected(tmp_path: Path) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    store = LanceSpiralVectorStore(DeterministicFakeEmbedding(size=4), tmp_path / "x.lance")
    with pytest.raises(InvalidInputError, match="JSON"):
        store.add_texts(["a"], [{"when": object()}])
    with pytest.raises(InvalidInputError, match="metadatas"):
        store.add_texts(["a", "b"], [{}])
    with pytest.raises(InvalidInputError, match="unknown filter operator"):
        filter_to_sql({"a": {"$regex": "x"}})
    with pytest.raises(InvalidInputError, match="logical operator"):
        filter_to_sql({"$xor": []})
    with pytest.raises(InvalidParameterError, match="metric"):
        LanceSpiralVectorStore(DeterministicFakeEmbedding(size=4), metric="hamming")
    with pytest.raises(InvalidParameterError, match="k must be"):
        store.similarity_search("a", k=0)
    assert store.similarity_search("a") == []  # empty store, no table yet


def test_reopening_the_uri_keeps_the_data(tmp_path: Path) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    emb = DeterministicFakeEmbedding(size=8)
    first = LanceSpiralVectorStore(emb, tmp_path / "re.lance")
    first.add_texts(["kept"], [{"v": 1}], ids=["k"])
    again = LanceSpiralVectorStore(emb, tmp_path / "re.lance")
    assert again.get_by_ids(["k"]) == [Document(id="k", page_content="kept", metadata={"v": 1})]
