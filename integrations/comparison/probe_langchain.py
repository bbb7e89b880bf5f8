"""Exercise one LangChain vector store method by method; print what each call returns, as JSON.

Run by ``feature_table.py`` (ours in the project's venv, the others in a throwaway venv):
``python probe_langchain.py STORE DATA_DIR`` with STORE one of lance-spiral, chroma, faiss,
lancedb. The corpus is 40 real SciFact abstracts with their all-MiniLM-L6-v2 vectors; the
query is a SciFact claim with its vector, so "relevance >= 0.4" has an exact numpy answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

N = 40


class Lookup(Embeddings):
    """Real SciFact vectors looked up by text (no model)."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors of known texts."""
        return [self.table[t].astype(float).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Vector of a known text."""
        return self.embed_documents([text])[0]


def make(kind: str, emb: Embeddings, tmp: str) -> Any:
    """A fresh store of ``kind`` in ``tmp`` (cosine space where the store has a choice)."""
    if kind == "lance-spiral":
        from langchain_lance_spiral import LanceSpiralVectorStore

        return LanceSpiralVectorStore(emb, tmp, table_name="probe")
    if kind == "chroma":
        from langchain_chroma import Chroma

        return Chroma("probe", emb, persist_directory=tmp,
                      collection_metadata={"hnsw:space": "cosine"})
    if kind == "faiss":
        import faiss
        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS

        return FAISS(emb, faiss.IndexFlatL2(384), InMemoryDocstore(), {})
    if kind == "lancedb":
        from langchain_community.vectorstores import LanceDB

        return LanceDB(embedding=emb, uri=tmp, table_name="probe", mode="overwrite")
    raise SystemExit(f"unknown store {kind}")


def cell(fn: Callable[[], str]) -> str:
    """Run one probe: its description, or the error it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except NotImplementedError:
        return "not implemented"
    except AttributeError as exc:
        return "missing" if "has no attribute" in str(exc) else "error: AttributeError"
    except Exception as exc:  # the probe reports whatever happens
        return f"error: {type(exc).__name__}"


def main() -> None:
    """Probe the store named on the command line; print the results as JSON."""
    kind, data = sys.argv[1], Path(sys.argv[2])
    lines = (data / "corpus.jsonl").read_text().splitlines()[:N]
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, lines)]
    emb = np.asarray(np.load(data / "corpus_emb.npy", mmap_mode="r")[:N], dtype=np.float32)
    qs = [json.loads(x)["text"] for x in (data / "queries.jsonl").read_text().splitlines()[:50]]
    qemb = np.asarray(np.load(data / "query_emb.npy", mmap_mode="r")[:50], dtype=np.float32)
    cos = qemb @ emb.T
    qi = int(np.argmax((cos >= 0.4).sum(axis=1)))
    query, want = qs[qi], int((cos[qi] >= 0.4).sum())
    model = Lookup({**dict(zip(texts, emb, strict=True)), **dict(zip(qs, qemb, strict=True))})
    ids = [f"d{i}" for i in range(N)]
    metas = [{"group": "abc"[i % 3], "n": i} for i in range(N)]
    word = "cell"
    with_word = sum(word in t for t in texts)
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = make(kind, model, tmp)
        out["add_texts(ids=)"] = cell(lambda: "ids" if store.add_texts(
            texts, metas, ids=ids) == ids else "other ids")
        out["get_by_ids"] = cell(lambda: f"{len(store.get_by_ids(['d1', 'd2']))} docs")

        def score() -> str:
            (_doc, s), = store.similarity_search_with_score(texts[3], k=1)
            return f"{s:.3f} for the doc itself (" + (
                "similarity" if s > 0.5 else "distance") + ")"

        out["similarity_search_with_score"] = cell(score)

        def relevance() -> str:
            got = store.similarity_search_with_relevance_scores(query, k=N, score_threshold=0.4)
            return f"{len(got)} docs (exact cosine >= 0.4: {want})"

        out["relevance, score_threshold=0.4"] = cell(relevance)
        def by_vector() -> str:
            pairs = store.similarity_search_by_vector_with_relevance_scores(emb[3].tolist(), k=1)
            return f"{pairs[0][1]:.3f} for the doc itself"

        out["similarity_search_by_vector_with_relevance_scores"] = cell(by_vector)

        def flt() -> str:
            docs = store.similarity_search(query, k=N, filter={"group": "a"})
            ok = docs and all(d.metadata.get("group") == "a" for d in docs)
            return f"honoured ({len(docs)} docs)" if ok else f"not applied ({len(docs)} docs)"

        out["filter={'group': 'a'}"] = cell(flt)

        def where_document() -> str:
            docs = store.similarity_search(query, k=N, where_document={"$contains": word})
            ok = len(docs) == with_word and all(word in d.page_content for d in docs)
            return "honoured" if ok else f"ignored ({len(docs)} of {with_word} docs)"

        out["where_document={'$contains': ...}"] = cell(where_document)
        out["unknown kwarg (fitler=)"] = cell(
            lambda: f"ignored ({len(store.similarity_search(query, k=2, fitler={'n': 1}))} docs)")

        def get() -> str:
            r = store.get(ids=["d1", "d4"], include=["metadatas"])
            page = store.get(where={"group": "b"}, limit=2, offset=1)
            return f"dict {sorted(k for k in r if r[k] is not None)}; page {len(page['ids'])}"

        out["get(ids, where, limit, offset, include)"] = cell(get)
        out["update_document"] = cell(lambda: str(store.update_document(
            "d1", Document(page_content=texts[1], metadata={"n": 1}))))
        pair = [(texts[0], emb[0].tolist())]
        out["add_embeddings / from_embeddings"] = cell(
            lambda: str(store.add_embeddings(pair, metadatas=[{}], ids=["e0"])))
        out["len(store)"] = cell(lambda: str(len(store)))
        out["max_marginal_relevance_search"] = cell(
            lambda: f"{len(store.max_marginal_relevance_search(query, k=3, fetch_k=10))} docs")
        out["as_retriever(search_type='hybrid')"] = cell(
            lambda: f"{len(store.as_retriever(search_type='hybrid').invoke(query))} docs")
        out["asimilarity_search"] = cell(
            lambda: f"{len(asyncio.run(store.asimilarity_search(query, k=2)))} docs")
        out["delete(ids)"] = cell(lambda: str(store.delete(["d2"])))
        out["delete_collection / reset_collection"] = cell(
            lambda: f"{store.reset_collection()}, {store.delete_collection()}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
