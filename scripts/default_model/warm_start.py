r"""Continue training a distilled build on a larger corpus: same vocabulary and shape, its weights.

Build B of the shipped default model: build A (``lance-spiral distill`` on the first corpus, see
README.md) trained further on the whole corpus including the biomedical ontology files. The
vocabulary, tokeniser settings and network shape are A's, so the shipped size does not change;
the weights start from A's best checkpoint (``A/train/best.safetensors``); the learning rate warms
up to ``--lr`` and follows a cosine to the last of ``--steps`` optimiser steps over a shuffled
pass of the corpus. Every corpus file needs its teacher embeddings beside it (``<name>.npy``, as
``build_corpus.py`` writes them; ``texts.jsonl`` reads ``emb_f16.npy``).

Run (from the repository root; the corpus and A as in README.md):
    C=build/default_model/corpus
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python scripts/default_model/warm_start.py \
        --start build/default_model/A --out build/default_model/B --steps 1000 --lr 0.001 \
        --corpus ../shared/data/wordnet/texts.jsonl $C/*.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path


def main() -> int:
    """Parse the arguments, train from the start folder's weights, export the model folder."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start", required=True, help="distill output folder to continue from")
    ap.add_argument("--corpus", nargs="+", required=True, help=".jsonl files with <name>.npy")
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--steps", type=int, required=True, help="optimiser steps (cosine schedule)")
    ap.add_argument("--lr", type=float, default=0.001, help="peak learning rate")
    ap.add_argument("--contrastive", type=float, default=0.3, help="in-batch contrastive weight")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--seed", type=int, default=1, help="shuffle and validation-split seed")
    args = ap.parse_args()

    from safetensors.torch import load_file

    from lance_spiral.embed.approximator.tokenizer import Tokenizer
    from lance_spiral.train.corpus import load_corpus
    from lance_spiral.train.distill import TrainConfig, train_student
    from lance_spiral.train.export import export_approximator
    from lance_spiral.train.mining import Vocabulary
    from lance_spiral.train.student import StudentConfig

    t0 = time.perf_counter()
    start, out = Path(args.start), Path(args.out)
    config = json.loads((start / "config.json").read_text())
    tok_meta = json.loads((start / "tokenizer.json").read_text())
    vocab = Vocabulary.load(start / "train" / "vocab")
    texts: list[str] = []
    parts = []
    for f in args.corpus:
        t, emb = load_corpus(f)
        if emb is None:
            print(f"{f}: no teacher embeddings beside it (embed it first)", file=sys.stderr)
            return 2
        texts += t
        parts.append(emb)
    import numpy as np

    targets = np.concatenate(parts).astype(np.float32)
    print(f"{len(texts)} texts, vocabulary {len(vocab)} entries", flush=True)
    tokenizer = Tokenizer(vocab.kinds, vocab.texts, max_tokens=tok_meta["max_tokens"],
                          skipgrams=tok_meta.get("skipgrams", True), window=tok_meta.get("window"))
    mcfg = {k: v for k, v in config["model"].items() if k != "out_dim"}
    result = train_student(
        tokenizer, vocab.embeddings, texts, targets,
        model_config=StudentConfig(**mcfg),
        config=TrainConfig(epochs=1, max_steps=args.steps, lr=args.lr,
                           contrastive_weight=args.contrastive, threads=args.threads,
                           seed=args.seed),
        out_dir=out / "train",
        init_state=load_file(str(start / "train" / "best.safetensors")),
    )
    shutil.copytree(start / "train" / "vocab", out / "train" / "vocab", dirs_exist_ok=True)
    before = config.get("training") or {}
    stage = {
        "warm_start": start.name,
        "corpus": [Path(f).name for f in args.corpus],
        "n_texts": len(texts),
        "vocab_entries": len(vocab),
        "window": tokenizer.window,
        "lr": args.lr,
        "seed": args.seed,
        **result.summary(),
    }
    # One entry per build stage, oldest first (the start's own stages, or its distill summary).
    training = {"stages": [*before.get("stages", [before] if before else []), stage]}
    export_approximator(result.model, tokenizer, vocab.kinds, vocab.texts, out,
                        teacher=config.get("teacher", ""), extra={"training": training})
    stage["total_s"] = time.perf_counter() - t0
    (out / "train" / "summary.json").write_text(json.dumps(training, indent=2))
    print(json.dumps(stage, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
