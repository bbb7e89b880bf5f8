"""The full codec benchmark on WordNet (117,659 x 384) through ``lance_spiral.bench.codecs``.

Same measurements as ``lance-spiral bench codecs`` (bytes/vector, parameter bytes, reconstruction
cosine mean / 1st percentile, recall@10 on codes against the exact top-100, recall@10 after
re-ranking the top ``k'`` with SQ8 codes, one-thread encode / decode vectors per second), with
faiss-cpu rows in the same run. The base file ``emb_f16.npy`` is float16: it is upcast to float32
in memory here (the CLI does the same for any float16 ``.npy``), so no converted copy is written.

Run (from the repository root, ideally on an idle machine; timings on a loaded one are
indicative only):

    nice -n 10 .venv/bin/python benchmarks/bench_codecs.py
    nice -n 10 .venv/bin/python benchmarks/bench_codecs.py --codec sq:bits=4 --no-faiss

Sizing env vars (flags win): BENCH_CODECS_DATA (default ../shared/data/wordnet),
BENCH_CODECS_N (base rows, default all), BENCH_CODECS_NQ (queries, default all 1,000),
BENCH_CODECS_TRAIN (training sample, default 100,000), BENCH_CODECS_FAISS (faiss families,
default "sq,rabitq,pq,opq,ivfpq,rq"; faiss PQ training is the slow part), BENCH_CODECS_OUT
(default bench-out/codecs-wordnet). Writes OUT/results.json and OUT/recall_vs_bytes.png and
prints the table. When BENCH_CODECS_N is set the given ground truth no longer applies and exact
ground truth is recomputed on the subset.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lance_spiral.bench.codecs import bench_codecs, default_specs  # noqa: E402
from lance_spiral.bench.report import (  # noqa: E402
    format_table,
    plot_recall_vs_bytes,
    write_results,
)


def main() -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=env("BENCH_CODECS_DATA",
                                          str(ROOT.parent / "shared" / "data" / "wordnet")))
    ap.add_argument("--n", type=int, default=int(env("BENCH_CODECS_N", "0")) or None)
    ap.add_argument("--nq", type=int, default=int(env("BENCH_CODECS_NQ", "0")) or None)
    ap.add_argument("--train", type=int, default=int(env("BENCH_CODECS_TRAIN", "100000")))
    ap.add_argument("--codec", action="append", dest="codecs", metavar="SPEC")
    ap.add_argument("--faiss-indexes", default=env("BENCH_CODECS_FAISS",
                                                   "sq,rabitq,pq,opq,ivfpq,rq"))
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--rerank-k", type=int, default=100)
    ap.add_argument("--out", default=env("BENCH_CODECS_OUT", "bench-out/codecs-wordnet"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    data = Path(args.data)
    emb = np.load(data / "emb_f16.npy", mmap_mode="r")
    base = np.asarray(emb[: args.n] if args.n else emb, dtype=np.float32)
    queries = np.load(data / "query_emb.npy").astype(np.float32)
    gt = None if args.n else np.load(data / "gt.npy")
    if args.nq:
        queries = queries[: args.nq]
        gt = None if gt is None else gt[: args.nq]
    specs = args.codecs or default_specs()
    print(f"base {base.shape}, queries {queries.shape}, codecs {specs}", flush=True)
    t0 = time.perf_counter()
    result = bench_codecs(
        base, queries, gt, specs=specs, faiss=not args.no_faiss,
        faiss_families=tuple(f for f in args.faiss_indexes.split(",") if f),
        rerank_codec="sq:bits=8", rerank_k=args.rerank_k, train=args.train,
        progress=not args.quiet,
    )
    result["dataset"] = str(data)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    path = write_results(result, args.out)
    plot_recall_vs_bytes(result["rows"], Path(args.out) / "recall_vs_bytes.png",
                         title=f"WordNet {result['n']} x {result['dim']}")
    print(format_table(result["rows"]))
    print(f"\nwrote {path} ({result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
