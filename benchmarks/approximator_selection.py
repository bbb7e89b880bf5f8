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

from lance_spiral.embed.approximator import Approximator
from lance_spiral.embed.teacher import DEFAULT_TEACHER, Teacher, resolve_teacher_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(1), dtype=np.float64)


def _paired(base: np.ndarray, other: np.ndarray) -> dict[str, float]:
    d = other - base
    return {
        "mean_diff": float(d.mean()),
        "stderr": float(d.std() / np.sqrt(len(d))),
        "share_better": float((d > 0).mean()),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="approximator model directories")
    ap.add_argument("--teacher", default=DEFAULT_TEACHER)
    ap.add_argument("--long-texts", type=int, default=300)
    ap.add_argument("--per-text", type=int, default=12, help="queries joined per long text")
    ap.add_argument("--out", default=str(ROOT / "build" / "approximator_selection.json"))
    args = ap.parse_args(argv)
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
    per_text: list[tuple[np.ndarray, np.ndarray]] = []
    for model_dir, model in zip(args.models, models, strict=True):
        q_cos = _cosines(model.embed(queries), query_emb)
        l_cos = _cosines(model.embed(long_texts), long_emb)
        summary_file = Path(model_dir) / "train" / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        row: dict[str, Any] = {
            "model": str(model_dir),
            "val_cosine": summary.get("best_val_cosine"),
            "wordnet_query_cosine": float(q_cos.mean()),
            "long_text_cosine": float(l_cos.mean()),
            "build_minutes": summary["total_s"] / 60 if "total_s" in summary else None,
        }
        if per_text:
            row["vs_first"] = {
                "wordnet_query": _paired(per_text[0][0], q_cos),
                "long_text": _paired(per_text[0][1], l_cos),
            }
        per_text.append((q_cos, l_cos))
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
