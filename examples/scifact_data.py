"""A small SciFact slice for the examples: documents, test queries, relevance judgements.

Reads ../shared/data/scifact (or ``$LANCE_SPIRAL_SHARED_DATA/scifact``) with the library's BEIR
reader. The slice holds every document judged relevant for its test queries plus the first others
up to ``n_docs``, with the precomputed teacher (all-MiniLM-L6-v2) embeddings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lance_spiral.errors import NotFoundError
from lance_spiral.train.evaluate import load_beir

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
    if not (folder / "corpus_emb.npy").is_file():
        raise NotFoundError(
            f"SciFact not found at {folder}: set LANCE_SPIRAL_SHARED_DATA to a folder holding "
            "scifact/ (BEIR corpus.jsonl, queries.jsonl, qrels.tsv, plus the teacher's "
            "corpus_emb.npy and query_emb.npy); see examples/README.md"
        )
    beir = load_beir(folder)
    qrels = [set(beir["qrels"][q]) for q in beir["query_ids"][:n_queries]]
    q_rows = beir["query_rows"][:n_queries]
    wanted = set().union(*qrels)
    ids = beir["doc_ids"]
    rows = [i for i, d in enumerate(ids) if d in wanted]
    rows += [i for i, d in enumerate(ids) if d not in wanted][: max(0, n_docs - len(rows))]
    doc_emb = np.load(folder / "corpus_emb.npy", mmap_mode="r")
    q_emb = np.load(folder / "query_emb.npy", mmap_mode="r")
    return SciFactSlice(
        ids=[ids[i] for i in rows],
        titles=[beir["doc_titles"][i] for i in rows],
        texts=[beir["doc_texts"][i] for i in rows],
        doc_emb=np.asarray(doc_emb[rows], dtype=np.float32),
        queries=beir["query_texts"][:n_queries],
        query_emb=np.asarray(q_emb[q_rows], dtype=np.float32),
        qrels=qrels,
    )
