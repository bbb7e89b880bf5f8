"""A small SciFact slice for the examples: documents, test queries, relevance judgements.

Reads ../shared/data/scifact (or ``$LANCE_SPIRAL_SHARED_DATA/scifact``). The slice holds every
document judged relevant for the test queries plus the first others up to ``n_docs``, with the
precomputed teacher (all-MiniLM-L6-v2) embeddings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass
class SciFactSlice:
    ids: list[str]
    titles: list[str]
    texts: list[str]
    doc_emb: np.ndarray
    queries: list[str]
    query_emb: np.ndarray
    qrels: list[set[str]]


def load_slice(n_docs: int = 800, n_queries: int = 100) -> SciFactSlice:
    folder = DATA / "scifact"
    corpus = [json.loads(x) for x in (folder / "corpus.jsonl").read_text("utf-8").splitlines()]
    queries = [json.loads(x) for x in (folder / "queries.jsonl").read_text("utf-8").splitlines()]
    rel: dict[str, set[str]] = {}
    for line in (folder / "qrels.tsv").read_text("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip().isdigit() and int(parts[2]) > 0:
            rel.setdefault(parts[0], set()).add(parts[1])
    test = [(i, q) for i, q in enumerate(queries) if q["id"] in rel][:n_queries]
    wanted = set().union(*(rel[q["id"]] for _, q in test))
    rows = [i for i, d in enumerate(corpus) if d["id"] in wanted]
    rows += [i for i, d in enumerate(corpus) if d["id"] not in wanted][: max(0, n_docs - len(rows))]
    doc_emb = np.load(folder / "corpus_emb.npy", mmap_mode="r")
    q_emb = np.load(folder / "query_emb.npy", mmap_mode="r")
    return SciFactSlice(
        ids=[corpus[i]["id"] for i in rows],
        titles=[corpus[i]["title"] for i in rows],
        texts=[f"{corpus[i]['title']} {corpus[i]['text']}" for i in rows],
        doc_emb=np.asarray(doc_emb[rows], dtype=np.float32),
        queries=[q["text"] for _, q in test],
        query_emb=np.asarray(q_emb[[i for i, _ in test]], dtype=np.float32),
        qrels=[rel[q["id"]] for _, q in test],
    )


def recall_at(k: int, retrieved: list[list[str]], qrels: list[set[str]]) -> float:
    hits = [len(set(r[:k]) & q) / len(q) for r, q in zip(retrieved, qrels, strict=True)]
    return float(np.mean(hits))
