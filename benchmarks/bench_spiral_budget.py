"""The spiral codec's size promise at the size a user has, every byte counted.

``spiral:compression_ratio=r`` promises at most ``(1 - r) * 4 * dim`` bytes per vector: codes
(anchor id + residual stages) plus the parameters (anchors, codebooks, spiral plane) amortised
over the rows the codec is fitted on. This fits each target on a whole collection and reports
bytes/vector all-in, the limit, mean reconstruction cosine and recall@10 on codes (exhaustive
search on the codes, exact inner-product search over the same collection as the oracle).

Collections: ``wordnet`` = the first 20,000 WordNet vectors (``emb_f16.npy``, upcast), queries =
the 1,000 WordNet query vectors; ``scifact`` = the 5,183 SciFact documents plus the 1,109 claims
(6,292 vectors, all fitted and encoded), queries = the 1,109 claims searched among the 5,183
document codes.

How to run (from the repository root; the machine is shared, so be nice)::

    nice -n 10 .venv/bin/python benchmarks/bench_spiral_budget.py --label after \
        --out docs/bench/spiral/budget.json --compare-bits

``--label`` names the rows (e.g. ``before`` / ``after`` a change); rows of other labels already
in ``--out`` are kept. ``--compare-bits`` adds the same targets with the stage layout forced to
8-bit and to 4-bit stages (``n_bits=8`` / ``4``): the measurement behind the planner's choice.
Environment: ``LS_SHARED_DATA`` (default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.codecs import make_codec
from lance_spiral.codecs.metrics import exact_topk, recall_at, reconstruction_cosine

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LS_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGETS = (0.7, 0.9)
COMMAND = ("nice -n 10 .venv/bin/python benchmarks/bench_spiral_budget.py --label {label}"
           " --out {out}{extra}")


def collections() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """``name -> (collection, queries, searchable rows)``: queries search the first rows."""
    wn = np.asarray(np.load(DATA / "wordnet" / "emb_f16.npy", mmap_mode="r")[:20000],
                    dtype=np.float32)
    wq = np.load(DATA / "wordnet" / "query_emb.npy").astype(np.float32)
    docs = np.load(DATA / "scifact" / "corpus_emb.npy").astype(np.float32)
    claims = np.load(DATA / "scifact" / "query_emb.npy").astype(np.float32)
    return {"wordnet": (wn, wq, len(wn)),
            "scifact": (np.concatenate([docs, claims]), claims, len(docs))}


def measure(name: str, x: np.ndarray, q: np.ndarray, searchable: int, ratio: float,
            seed: int, bits: int | None = None) -> dict[str, Any]:
    """Fit ``spiral:compression_ratio=ratio`` on ``x`` and measure it, every byte counted."""
    spec = f"spiral:compression_ratio={ratio}" + ("" if bits is None else f",n_bits={bits}")
    t0 = time.perf_counter()
    try:
        codec = make_codec(spec).fit(x, seed=seed)
    except Exception as exc:  # a refusal at fit time is a result too
        return {"collection": name, "spec": spec, "n": len(x), "error": str(exc)}
    train_s = time.perf_counter() - t0
    codes = codec.encode(x)
    dim = x.shape[1]
    cos = reconstruction_cosine(x, codec.decode(codes))
    gt = exact_topk(x[:searchable], q, 10)
    _, pred = codec.search(q, codes[:searchable], 10)
    all_in = codec.code_bytes + codec.param_bytes / len(x)
    return {
        "collection": name, "spec": spec, "fitted_spec": codec.spec, "n": len(x), "dim": dim,
        "limit_bytes_per_vector": round((1.0 - ratio) * 4 * dim, 3),
        "code_bytes": codec.code_bytes, "param_bytes": codec.param_bytes,
        "bytes_per_vector_all_in": round(all_in, 3),
        "within_limit": bool(all_in <= (1.0 - ratio) * 4 * dim + 1e-9),
        "stages": getattr(codec, "stage_subspaces", None),
        "stage_bits": getattr(codec, "_bits", None),
        "anchors": None if codec.centroids is None else int(codec.centroids.shape[0]),
        "cos_mean": round(float(cos.mean()), 6), "cos_p01": round(float(np.quantile(cos, 0.01)),
                                                                     6),
        "recall_at_10": round(recall_at(pred, gt, 10), 4), "queries": len(q),
        "searchable": searchable, "train_s": round(train_s, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True, help="name of this run's rows, e.g. before/after")
    ap.add_argument("--out", type=Path, default=Path("docs/bench/spiral/budget.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare-bits", action="store_true",
                    help="also measure the layouts forced to 8-bit and to 4-bit stages")
    args = ap.parse_args()
    rows = []
    for name, (x, q, searchable) in collections().items():
        for ratio in TARGETS:
            for bits in (None, 8, 4) if args.compare_bits else (None,):
                row = measure(name, x, q, searchable, ratio, args.seed, bits)
                print(json.dumps(row), flush=True)
                rows.append(row)
    doc: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    doc.setdefault("about", __doc__.split("\n\n")[1].replace("\n", " "))
    doc.setdefault("runs", {})
    doc["runs"][args.label] = {
        "command": COMMAND.format(label=args.label, out=args.out,
                                  extra=" --compare-bits" if args.compare_bits else ""),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, shared", "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
