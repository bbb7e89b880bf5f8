"""Where an approximator's inference time goes: milliseconds per stage, short and long texts.

Embeds the same 200 SciFact queries (short) and 200 abstracts (long) that ``eval-embedder``
times, on one thread, and times each stage of the fast path alone, repeated until a second has
passed: word splitting (the Python regex), the whole tokeniser (split + numba matching), the
first pooling pass, the context pass (when the model has one), the ONNX head, and ``embed`` end
to end. Also reports how long the tokeniser's word tables take to build (once, on first use).

Run (from the repository root, after ``make approximator``):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_stages.py build/approximator

Writes ``--out`` (default build/approximator_stages.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

from lance_spiral.embed.approximator import Approximator
from lance_spiral.embed.approximator.pooling import pool_folded
from lance_spiral.embed.approximator.text import words
from lance_spiral.embed.approximator.tokenizer import Tokenizer
from lance_spiral.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import approximator_tables as tables_bench

ROOT = Path(__file__).resolve().parents[1]


def _ms(fn: Callable[[], Any], min_seconds: float) -> float:
    """Milliseconds per call of ``fn``, repeated until ``min_seconds`` have passed."""
    fn()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        fn()
        reps += 1
    return (time.perf_counter() - t0) / max(reps, 1) * 1e3


def stages(model: Approximator, texts: list[str], min_seconds: float) -> dict[str, float]:
    """Milliseconds per stage for one batch of ``texts``."""
    if model._tables is None or model._head is None:
        raise NotFoundError(f"{model.directory} has no fast-path tables and head")
    head, tables, scales, context = model._head, model._tables, model._scales, model._context
    flat, offsets = model.tokenizer.tokenize_batch(texts)
    first = pool_folded(flat, offsets, *tables, scales)
    pooled = context.apply(flat, offsets, first) if context is not None else first
    out = {
        "split_words": _ms(lambda: [words(t) for t in texts], min_seconds),
        "tokenize": _ms(lambda: model.tokenizer.tokenize_batch(texts), min_seconds),
        "pool": _ms(lambda: pool_folded(flat, offsets, *tables, scales), min_seconds),
        "head": _ms(lambda: head.run(None, {"pooled": pooled}), min_seconds),
        "embed": _ms(lambda: model.embed(texts), min_seconds),
    }
    if context is not None:
        out["context"] = _ms(lambda: context.apply(flat, offsets, first), min_seconds)
    out["tokens_per_text"] = float(len(flat) / max(len(texts), 1))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="approximator folder written by lance-spiral distill")
    ap.add_argument("--texts", type=int, default=200, help="texts per batch (short and long)")
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum time per stage")
    ap.add_argument("--out", default=str(ROOT / "build" / "approximator_stages.json"))
    args = ap.parse_args(argv)
    docs, queries = tables_bench.scifact_texts()
    rng = np.random.default_rng(0)
    long_texts = [docs[i] for i in rng.choice(len(docs), min(args.texts, len(docs)), replace=False)]
    short_texts = [queries[i % len(queries)] for i in range(args.texts)]
    model = Approximator.load(args.model, threads=1, cache_size=0)
    numba.set_num_threads(1)
    spec = json.loads((Path(args.model) / "tokenizer.json").read_text("utf-8"))
    fresh = Tokenizer(
        spec["kinds"],
        spec["texts"],
        max_tokens=int(spec["max_tokens"]),
        skipgrams=bool(spec["skipgrams"]),
        window=spec.get("window"),
    )
    t0 = time.perf_counter()
    fresh.word_tables()
    result = {
        "model": str(args.model),
        "texts_per_batch": args.texts,
        "threads": 1,
        "word_tables_build_s": time.perf_counter() - t0,
        "known_words": fresh.word_tables().n_words,
        "ms_per_batch": {
            "short": stages(model, short_texts, args.seconds),
            "long": stages(model, long_texts, args.seconds),
        },
    }
    return tables_bench.save(result, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
