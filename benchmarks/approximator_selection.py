"""Compare approximator builds without touching SciFact test queries or split B.

The checks that chose the `make approximator` settings (README, "Approximator embedder"):

- ``val_cosine``: the build's own validation cosine (``train/summary.json``);
- ``wordnet_query_cosine``: mean cosine to the teacher of the 1,000 WordNet queries, which no
  build trains on or mines entries from;
- ``long_text_cosine``: the same for 300 long texts, each 12 of those queries joined (a long-input
  check that no training text or mined entry has seen), embedded by the teacher in this run.

Each later model is also compared with the first, per text: mean difference, its standard error
and the share of texts where it is better.

Run (from the repository root):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_selection.py DIR [DIR ...]

A fourth check measures unseen long in-domain text, the case the held-out split B tests, without
touching B. ``--write-holdout-corpus DIR`` writes SciFact split A minus one fifth of it (chosen
by a hash of the id, salt ``proxy:``) as a corpus folder (``corpus.jsonl``, ``corpus_emb.npy``,
``qrels.tsv``); builds made with ``--corpus DIR/corpus.jsonl`` in place of the SciFact corpus
never see that fifth (no training, mining or crops). ``--holdout`` then adds, for such builds:

- ``holdout_doc_cosine``: mean cosine to the teacher of the held-out fifth's documents;
- ``holdout_spearman``: Spearman correlation of their pairwise similarities with the teacher's;
- ``trained_doc_cosine``: the same cosine on the documents the build was trained on;
- ``holdout_tokens_seen``: share of the held-out documents' tokens whose vocabulary entry occurs
  in the training documents, and ``holdout_cosine_vs_seen_corr``, the correlation over
  documents of that share with the document's cosine (is the gap unseen words, or not?);
- ``holdout_query_cosine``: mean cosine to the teacher of a held-out fifth of the *train*
  queries (salt ``proxyq:``; the folder's ``queries.jsonl`` leaves them out, so pass it as
  ``--queries`` in place of SciFact's), and ``holdout_query_doc_spearman``: Spearman of the
  similarities of those queries to the held-out documents -- the shape of the split-B Spearman
  target, without test queries.

Prints one JSON line per model and writes them to ``--out`` (default
build/approximator_selection.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.codecs.metrics import reconstruction_cosine
from lance_spiral.embed.approximator import Approximator
from lance_spiral.train.corpus import in_heldout
from lance_spiral.train.teacher import DEFAULT_TEACHER, Teacher, resolve_teacher_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(reconstruction_cosine(a, b), dtype=np.float64)


def _paired(base: np.ndarray, other: np.ndarray) -> dict[str, float]:
    d = other - base
    return {
        "mean_diff": float(d.mean()),
        "stderr": float(d.std() / np.sqrt(len(d))),
        "share_better": float((d > 0).mean()),
    }


HOLDOUT_SALT = "proxy:"
HOLDOUT_FRAC = 0.2


def _holdout_split(beir: Path) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray]:
    """SciFact records, embeddings, row indices of A minus its held-out fifth, and of the fifth."""
    recs = [json.loads(x) for x in (beir / "corpus.jsonl").read_text("utf-8").splitlines() if x]
    emb = np.load(beir / "corpus_emb.npy").astype(np.float32)
    ids = [str(r.get("_id", r.get("id"))) for r in recs]
    in_a = np.array([not in_heldout(i) for i in ids])
    fifth = np.array([in_heldout(HOLDOUT_SALT + i, HOLDOUT_FRAC) for i in ids])
    return recs, emb, np.flatnonzero(in_a & ~fifth), np.flatnonzero(in_a & fifth)


QUERY_SALT = "proxyq:"


def _query_split(beir: Path) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray]:
    """SciFact query records, embeddings, rows of the kept and the held-out train queries.

    Test queries are in neither: they are never trained on, and never used to choose.
    """
    recs = [json.loads(x) for x in (beir / "queries.jsonl").read_text("utf-8").splitlines() if x]
    emb = np.load(beir / "query_emb.npy").astype(np.float32)
    train = np.array([r.get("split") == "train" for r in recs])
    fifth = np.array([in_heldout(QUERY_SALT + str(r["id"]), HOLDOUT_FRAC) for r in recs])
    return recs, emb, np.flatnonzero(train & ~fifth), np.flatnonzero(train & fifth)


def write_holdout_corpus(beir: Path, out: Path) -> dict[str, int]:
    """Write split A minus its held-out fifth as a BEIR corpus folder; returns the counts.

    Beside it, ``queries.jsonl`` + ``query_emb.npy`` hold the train queries minus their own
    held-out fifth (pass it as ``--queries``).
    """
    recs, emb, keep, fifth = _holdout_split(beir)
    q_recs, q_emb, q_keep, q_fifth = _query_split(beir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "queries.jsonl").write_text(
        "".join(json.dumps(q_recs[i]) + "\n" for i in q_keep), encoding="utf-8"
    )
    np.save(out / "query_emb.npy", q_emb[q_keep])
    (out / "corpus.jsonl").write_text(
        "".join(json.dumps(recs[i]) + "\n" for i in keep), encoding="utf-8"
    )
    np.save(out / "corpus_emb.npy", emb[keep])
    # qrels.tsv beside the corpus marks it as BEIR: the loader drops split B (already absent).
    (out / "qrels.tsv").write_text((beir / "qrels.tsv").read_text("utf-8"), encoding="utf-8")
    return {
        "kept": len(keep),
        "held_out": len(fifth),
        "queries_kept": len(q_keep),
        "queries_held_out": len(q_fifth),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="approximator model directories")
    ap.add_argument(
        "--write-holdout-corpus", metavar="DIR", help="write split A minus its held-out fifth"
    )
    ap.add_argument(
        "--holdout", action="store_true", help="also score the held-out fifth of split A"
    )
    ap.add_argument("--teacher", default=DEFAULT_TEACHER)
    ap.add_argument("--long-texts", type=int, default=300)
    ap.add_argument("--per-text", type=int, default=12, help="queries joined per long text")
    ap.add_argument("--out", default=str(ROOT / "build" / "approximator_selection.json"))
    args = ap.parse_args(argv)
    beir = DATA / "scifact"
    if args.write_holdout_corpus:
        counts = write_holdout_corpus(beir, Path(args.write_holdout_corpus))
        print(json.dumps(counts))
        return []
    if not args.models:
        ap.error("give model directories (or --write-holdout-corpus DIR)")
    wn = DATA / "wordnet"
    queries = [
        json.loads(line)["text"]
        for line in (wn / "queries.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    query_emb = np.load(wn / "query_emb.npy").astype(np.float32)
    rng = np.random.default_rng(7)
    long_texts = [
        " ".join(queries[i] for i in rng.choice(len(queries), args.per_text, replace=False))
        for _ in range(args.long_texts)
    ]
    # Opened first: a missing or corrupt model fails before the teacher runs.
    models = [Approximator.load(d) for d in args.models]
    teacher = Teacher(resolve_teacher_dir(args.teacher), threads=1)
    long_emb = teacher.embed(long_texts, progress=False)
    rows: list[dict[str, Any]] = []
    if args.holdout:
        recs, emb, kept, fifth = _holdout_split(beir)

        def doc(i: int) -> str:
            return f"{recs[i].get('title', '')} {recs[i].get('text', '')}".strip()

        h_texts, t_texts = [doc(i) for i in fifth], [doc(i) for i in kept]
        h_emb, t_emb = emb[fifth], emb[kept]
        upper = np.triu_indices(len(fifth), 1)
        h_sims = (h_emb @ h_emb.T)[upper]
        q_recs, q_emb_all, _, q_fifth = _query_split(beir)
        hq_texts, hq_emb = [q_recs[i]["text"] for i in q_fifth], q_emb_all[q_fifth]
        hq_sims = (hq_emb @ h_emb.T).ravel()
    per_text: list[tuple[np.ndarray, ...]] = []
    for model_dir, model in zip(args.models, models, strict=True):
        q_cos = _cosines(model.embed(queries), query_emb)
        l_cos = _cosines(model.embed(long_texts), long_emb)
        checks = [q_cos, l_cos]
        summary_file = Path(model_dir) / "train" / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        row: dict[str, Any] = {
            "model": str(model_dir),
            "val_cosine": summary.get("best_val_cosine"),
            "wordnet_query_cosine": float(q_cos.mean()),
            "long_text_cosine": float(l_cos.mean()),
            "build_minutes": summary["total_s"] / 60 if "total_s" in summary else None,
        }
        if args.holdout:
            h_vec = model.embed(h_texts)
            h_cos = _cosines(h_vec, h_emb)
            row["holdout_doc_cosine"] = float(h_cos.mean())
            row["holdout_spearman"] = _spearman((h_vec @ h_vec.T)[upper], h_sims)
            hq_vec = model.embed(hq_texts)
            hq_cos = _cosines(hq_vec, hq_emb)
            row["holdout_query_cosine"] = float(hq_cos.mean())
            hq_n = hq_vec / np.linalg.norm(hq_vec, axis=1, keepdims=True)
            h_n = h_vec / np.linalg.norm(h_vec, axis=1, keepdims=True)
            row["holdout_query_doc_spearman"] = _spearman((hq_n @ h_n.T).ravel(), hq_sims)
            row["trained_doc_cosine"] = float(_cosines(model.embed(t_texts), t_emb).mean())
            tok = model.tokenizer
            seen = np.zeros(tok.size, dtype=bool)
            for t in t_texts:
                seen[tok.tokenize(t)] = True
            share = np.array([seen[tok.tokenize(t)].mean() for t in h_texts])
            row["holdout_tokens_seen"] = float(share.mean())
            row["holdout_cosine_vs_seen_corr"] = float(np.corrcoef(share, h_cos)[0, 1])
            checks += [h_cos, hq_cos]
        if per_text:
            names = ["wordnet_query", "long_text", "holdout_doc", "holdout_query"]
            row["vs_first"] = {
                name: _paired(first, now)
                for name, first, now in zip(names, per_text[0], checks, strict=False)
            }
        per_text.append(tuple(checks))
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
