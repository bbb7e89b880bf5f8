"""The store's surface beyond the standard suite, on real SciFact vectors in real Lance tables.

Relevance scores against a Chroma-equivalent expectation computed exactly with numpy; Chroma's
get / update / delete_collection / reset_collection, FAISS's add_embeddings / from_embeddings,
LanceDB's database URI + table_name, nprobes / rerank through search_kwargs, where_document,
full-text and hybrid retrieval, and every kwarg refused that the store cannot honour.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_lance_spiral import LanceSpiralRetriever, LanceSpiralVectorStore

from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError

N = 300


class TableEmbeddings(Embeddings):
    """Real teacher embeddings of SciFact texts (documents and queries), looked up by text."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t].astype(np.float64).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def data(shared_data: Path) -> dict[str, Any]:
    sf = shared_data / "scifact"
    docs = [json.loads(x) for x in (sf / "corpus.jsonl").read_text().splitlines()[:N]]
    queries = [json.loads(x) for x in (sf / "queries.jsonl").read_text().splitlines()[:60]]
    texts = [f"{d['title']} {d['text']}" for d in docs]
    emb = np.asarray(np.load(sf / "corpus_emb.npy", mmap_mode="r")[:N], dtype=np.float32)
    qemb = np.asarray(np.load(sf / "query_emb.npy", mmap_mode="r")[:60], dtype=np.float32)
    qtexts = [q["text"] for q in queries]
    table = {**dict(zip(texts, emb, strict=True)), **dict(zip(qtexts, qemb, strict=True))}
    return {"texts": texts, "emb": emb, "queries": qtexts, "qemb": qemb,
            "embeddings": TableEmbeddings(table), "ids": [f"d{i}" for i in range(N)],
            "metas": [{"n": i, "group": "abc"[i % 3]} for i in range(N)]}


def _store(data: dict[str, Any], path: Path, **kw: Any) -> LanceSpiralVectorStore:
    store = LanceSpiralVectorStore(data["embeddings"], path, **kw)
    store.add_embeddings(list(zip(data["texts"], data["emb"], strict=True)), data["metas"],
                         ids=data["ids"])
    return store


@pytest.fixture(scope="module")
def sq8(data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> LanceSpiralVectorStore:
    store = _store(data, tmp_path_factory.mktemp("lc-surface") / "sq8.lance",
                   table_kwargs={"fit_rows": 1})
    assert store.table.codec.spec.startswith("sq:bits=8")
    return store


def test_relevance_threshold_matches_chroma_cosine_space(
        data: dict[str, Any], sq8: LanceSpiralVectorStore, tmp_path: Path) -> None:
    exact = _store(data, tmp_path / "exact.lance", codec="lossless", table_kwargs={"fit_rows": 1})
    assert exact.table.codec.spec.startswith("lossless")
    cos = data["qemb"] @ data["emb"].T  # Chroma cosine space: relevance = 1 - (1 - cos)
    qi = int(np.argmax((cos >= 0.5).sum(axis=1) >= 3))
    want = {f"d{i}" for i in np.flatnonzero(cos[qi] >= 0.5)}
    assert 3 <= len(want) < N
    query = data["queries"][qi]
    # rerank=N: every row scored by the codec (no automatic depth tuning on this tiny table)
    got = exact.similarity_search_with_relevance_scores(query, k=N, score_threshold=0.5,
                                                        rerank=N)
    assert {d.id for d, _ in got} == want
    for doc, rel in got:
        assert rel == pytest.approx(float(cos[qi, int(str(doc.id)[1:])]), abs=1e-5)
    by_vec = exact.similarity_search_by_vector_with_relevance_scores(
        data["qemb"][qi].tolist(), k=N, score_threshold=0.5, rerank=N)
    assert [d.id for d, _ in by_vec] == [d.id for d, _ in got]
    # 8-bit codes: the same set except documents within the codes' score error of 0.5.
    coded = sq8.similarity_search_with_relevance_scores(query, k=N, score_threshold=0.5,
                                                        rerank=N)
    flipped = {d.id for d, _ in coded} ^ want
    assert all(abs(cos[qi, int(str(i)[1:])] - 0.5) < 0.01 for i in flipped)
    assert all(abs(rel - cos[qi, int(str(d.id)[1:])]) < 0.01 for d, rel in coded)
    every = sq8.similarity_search_with_relevance_scores(query, k=N, rerank=N)
    assert all(0.0 <= r <= 1.0 for _, r in every)  # negative cosines clip to 0


def test_chroma_get(sq8: LanceSpiralVectorStore, data: dict[str, Any]) -> None:
    got = sq8.get(ids=["d7", "d3", "nope", "d7"], include=["metadatas", "embeddings"])
    assert got["ids"] == ["d7", "d3"] and got["documents"] is None
    assert got["metadatas"] == [data["metas"][7], data["metas"][3]]
    cos = np.sum(got["embeddings"] * data["emb"][[7, 3]], axis=1)
    assert got["embeddings"].shape == (2, 384) and cos.min() > 0.999  # decoded SQ8 codes
    page = sq8.get(where={"group": "b"}, limit=5, offset=2)
    assert page["ids"] == [f"d{i}" for i in range(1, N, 3)][2:7]
    assert page["documents"] == [data["texts"][int(i[1:])] for i in page["ids"]]
    assert page["included"] == ["documents", "metadatas"]
    word = sq8.get(where_document={"$contains": "Alzheimer"})["ids"]
    assert set(word) == {f"d{i}" for i, t in enumerate(data["texts"]) if "Alzheimer" in t}
    assert sq8.get(ids="d2")["ids"] == ["d2"] and sq8.get(ids=[])["ids"] == []
    both = sq8.get(ids=["d1", "d2", "d4"], where={"group": "b"})["ids"]
    assert both == ["d1", "d4"]
    assert len(sq8) == N and len(sq8.get()["ids"]) == N
    with pytest.raises(InvalidParameterError, match="include"):
        sq8.get(include=["distances"])


def test_where_document_filters_search(sq8: LanceSpiralVectorStore, data: dict[str, Any]
                                       ) -> None:
    texts = data["texts"]
    flt = {"$and": [{"$contains": "cell"}, {"$not_contains": "mice"}]}
    docs = sq8.similarity_search(texts[0], k=N, where_document=flt)
    assert {d.id for d in docs} == {f"d{i}" for i, t in enumerate(texts)
                                   if "cell" in t and "mice" not in t}
    regex = sq8.similarity_search(texts[0], k=N, where_document={"$regex": r"\bp53\b"})
    assert regex and all("p53" in d.page_content for d in regex)
    with pytest.raises(InvalidInputError, match="where_document operator"):
        sq8.similarity_search(texts[0], where_document={"$startswith": "A"})


def test_full_text_and_hybrid(sq8: LanceSpiralVectorStore, data: dict[str, Any]) -> None:
    texts = data["texts"]
    fts = sq8.full_text_search_with_score("Alzheimer amyloid", k=5)
    assert fts and all("alzheimer" in d.page_content.lower() or "amyloid" in
                       d.page_content.lower() for d, _ in fts)
    assert [s for _, s in fts] == sorted((s for _, s in fts), reverse=True)
    target = texts[42]
    hybrid = sq8.hybrid_search(target, k=3)
    assert hybrid[0].id == "d42"
    vector_only = sq8.hybrid_search(target, k=5, alpha=1.0)
    assert [d.id for d in vector_only] == [d.id for d in sq8.similarity_search(target, k=5)]
    filtered = sq8.hybrid_search(target, k=5, filter={"group": "a"})
    assert all(d.metadata["group"] == "a" for d in filtered)
    retriever = sq8.as_retriever(search_type="hybrid", search_kwargs={"k": 2})
    assert isinstance(retriever, LanceSpiralRetriever) and retriever.invoke(target)[0].id == "d42"
    ft = sq8.as_retriever(search_type="full_text", search_kwargs={"k": 3})
    assert [d.id for d in ft.invoke("Alzheimer amyloid")] == [d.id for d, _ in fts[:3]]
    assert sq8.search("Alzheimer amyloid", "full_text", k=3) == ft.invoke("Alzheimer amyloid")


def test_nprobes_and_rerank_through_search_kwargs(shared_data: Path, tmp_path: Path) -> None:
    # Above the table's flat-scan limit (8,192 rows) the IVF probes and the re-rank depth matter.
    n = 9000
    wn = shared_data / "wordnet"
    texts = [json.loads(x)["text"] for x in (wn / "texts.jsonl").read_text().splitlines()[:n]]
    emb = np.asarray(np.load(wn / "emb_f16.npy", mmap_mode="r")[:n], dtype=np.float32)
    qemb = np.asarray(np.load(wn / "query_emb.npy", mmap_mode="r")[:20], dtype=np.float32)
    store = LanceSpiralVectorStore(TableEmbeddings(dict(zip(texts, emb, strict=True))),
                                   tmp_path / "ivf.lance", table_kwargs={"nlist": 16})
    store.add_embeddings(texts, emb, ids=[f"w{i}" for i in range(n)])
    exact = np.argsort(-(qemb @ emb.T), axis=1)[:, :10]

    def recall(**kw: Any) -> float:
        hits = 0
        for q, want in zip(qemb, exact, strict=True):
            docs = store.similarity_search_by_vector(q.tolist(), k=10, **kw)
            hits += len({int(str(d.id)[1:]) for d in docs} & set(want.tolist()))
        return hits / exact.size

    full, one = recall(nprobes=16), recall(nprobes=1)
    shallow, deep = recall(nprobes=16, rerank=10), recall(nprobes=16, refine_factor=10)
    assert full >= 0.95 and one < full - 0.2
    assert shallow < full - 0.2 and deep > shallow + 0.2
    retriever = store.as_retriever(search_kwargs={"k": 10, "nprobes": 1, "rerank": 10})
    assert [d.id for d in retriever.invoke(texts[0])] == [
        d.id for d in store.similarity_search(texts[0], k=10, nprobes=1, rerank=10)]
    with pytest.raises(InvalidParameterError, match="nprobes"):
        store.similarity_search(texts[0], nprobes=0)
    with pytest.raises(InvalidParameterError, match="not both"):
        store.similarity_search(texts[0], rerank=20, refine_factor=2)


def test_faiss_and_chroma_constructors(data: dict[str, Any], tmp_path: Path) -> None:
    pairs = list(zip(data["texts"][:20], data["emb"][:20].tolist(), strict=True))
    emb = data["embeddings"]
    faiss = LanceSpiralVectorStore.from_embeddings(pairs, emb, data["metas"][:20],
                                                   ids=data["ids"][:20], uri=tmp_path / "db",
                                                   table_name="faiss")
    assert len(faiss) == 20 and faiss.get_by_ids(["d3"])[0].metadata == data["metas"][3]
    chroma = LanceSpiralVectorStore(collection_name="notes", embedding_function=emb,
                                    persist_directory=tmp_path / "db")
    chroma.add_texts(data["texts"][20:25])
    lance_db = LanceSpiralVectorStore(emb, tmp_path / "db", table_name="lancedb")
    lance_db.add_embeddings(data["texts"][25:28], data["emb"][25:28])
    assert sorted(lancedb.connect(str(tmp_path / "db")).list_tables().tables) == [
        "faiss", "lancedb", "notes"]
    assert (len(faiss), len(chroma), len(lance_db)) == (20, 5, 3)
    reopened = LanceSpiralVectorStore(emb, persist_directory=tmp_path / "db",
                                      collection_name="faiss")
    assert reopened.get_by_ids(["d0"])[0].page_content == data["texts"][0]
    with pytest.raises(InvalidInputError, match="pair"):
        faiss.add_embeddings([("only text",)])
    with pytest.raises(InvalidParameterError, match="not both"):
        LanceSpiralVectorStore(emb, tmp_path / "x", persist_directory=tmp_path / "y")
    with pytest.raises(InvalidParameterError, match="table name"):
        LanceSpiralVectorStore(emb, tmp_path / "db", table_name="../escape")


def test_existing_table_settings_are_checked(data: dict[str, Any], tmp_path: Path) -> None:
    emb = data["embeddings"]
    store = _store(data, tmp_path / "kept.lance", codec="sq:bits=4", table_kwargs={"fit_rows": 1})
    for kw in ({"codec": "sq:bits=8"}, {"metric": "l2"}, {"mode": "alongside"},
               {"table_kwargs": {"nlist": 4}}):
        with pytest.raises(InvalidParameterError, match="already exists with"):
            LanceSpiralVectorStore(emb, tmp_path / "kept.lance", **kw)
    with pytest.raises(InvalidParameterError, match="fit_rows"):
        LanceSpiralVectorStore(emb, tmp_path / "kept.lance", table_kwargs={"fit_rows": 50})
    same = LanceSpiralVectorStore(emb, tmp_path / "kept.lance", codec="sq:bits=4,ranges=mse")
    assert len(same) == N and LanceSpiralVectorStore(emb, tmp_path / "kept.lance").table
    with pytest.raises(InvalidParameterError, match="table option"):
        LanceSpiralVectorStore(emb, tmp_path / "new.lance", table_kwargs={"fit_row": 10})
    store.requantize("sq:bits=8")  # the explicit way to change the codec of a live table
    again = LanceSpiralVectorStore(emb, tmp_path / "kept.lance", codec="sq:bits=8")
    assert again.table.codec.spec.startswith("sq:bits=8") and len(again) == N
    assert again.similarity_search(data["texts"][9], k=1)[0].id == "d9"


def test_update_delete_collection_and_reset(data: dict[str, Any], tmp_path: Path) -> None:
    store = _store(data, tmp_path / "upd.lance")
    new = Document(page_content=data["texts"][5], metadata={"moved": True})
    store.update_document("d1", new)
    got = store.get_by_ids(["d1"])[0]
    assert got.page_content == data["texts"][5] and got.metadata == {"moved": True}
    assert store.similarity_search(data["texts"][5], k=2)[1].id in ("d1", "d5")
    with pytest.raises(NotFoundError, match="ghost"):
        store.update_documents(["d2", "ghost"], [new, new])
    assert store.get_by_ids(["d2"])[0].page_content == data["texts"][2]  # nothing written
    store.delete(["d3", "d4"], filter={"group": "a"})  # d3 only: d4 is in group b
    assert store.get(ids=["d3", "d4"])["ids"] == ["d4"]
    store.delete(where_document={"$contains": "Alzheimer"})
    assert not store.get(where_document={"$contains": "Alzheimer"})["ids"]
    store.delete_collection()
    assert not Path(store.uri).exists() and len(store) == 0 and store.similarity_search(
        data["texts"][0]) == []
    store.add_texts(data["texts"][:2])
    assert len(store) == 2
    store.reset_collection()
    assert len(store) == 0


def test_unknown_kwargs_are_refused(sq8: LanceSpiralVectorStore, data: dict[str, Any]) -> None:
    q = data["texts"][0]
    calls = [
        lambda: sq8.similarity_search(q, fitler={"n": 1}),
        lambda: sq8.similarity_search_with_score(q, ef=64),
        lambda: sq8.similarity_search_by_vector(data["emb"][0].tolist(), where={"n": 1}),
        lambda: sq8.max_marginal_relevance_search(q, k=2, score_threshold=0.3),
        lambda: sq8.as_retriever(search_kwargs={"k": 2, "where_documents": {}}).invoke(q),
        lambda: sq8.add_texts(["x"], batch_size=10),
        lambda: sq8.delete(["d1"], where={"n": 1}),
        lambda: sq8.get(where_doc={"$contains": "a"}),
        lambda: sq8.hybrid_search(q, query_type="fts"),
    ]
    for call in calls:
        with pytest.raises(InvalidParameterError, match="unsupported"):
            call()
    assert len(sq8) == N


def test_disk_memory_mode(data: dict[str, Any], tmp_path: Path) -> None:
    store = _store(data, tmp_path / "disk.lance", memory="disk", cache_dir=tmp_path / "cache",
                   table_kwargs={"fit_rows": 1})
    assert store.table.memory == "disk" and store.table.resident_bytes() / len(store) < 100
    for i in (3, 77, 150):
        top = store.similarity_search_by_vector(data["emb"][i].tolist(), k=1)[0]
        assert top.page_content == data["texts"][i] and top.metadata == data["metas"][i]
    with pytest.raises(InvalidParameterError, match="memory must be"):
        LanceSpiralVectorStore(data["embeddings"], tmp_path / "x.lance", memory="gpu")


def test_reads_see_other_writers_after_the_interval(data: dict[str, Any], tmp_path: Path) -> None:
    uri = tmp_path / "shared.lance"
    writer = _store(data, uri)  # 300 documents
    default = LanceSpiralVectorStore(data["embeddings"], uri)  # read_consistency_interval=1 s
    frozen = LanceSpiralVectorStore(data["embeddings"], uri, read_consistency_interval=None)
    assert len(default) == len(frozen) == N
    writer.delete(ids=["d5", "d6"])
    writer.add_embeddings(["a new note about sleep"], data["qemb"][:1], ids=["new"])
    time.sleep(1.1)
    assert len(default) == N - 1 and default.get_by_ids(["new", "d5"])[0].id == "new"
    assert len(frozen) == N and [d.id for d in frozen.get_by_ids(["new", "d5"])] == ["d5"]
