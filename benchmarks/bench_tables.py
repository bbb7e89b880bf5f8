"""Compressed lance-spiral tables against LanceDB's native indexes, on real embeddings.

Run (from the repository root; the full WordNet set builds LanceDB indexes for minutes)::

    nice -n 10 .venv/bin/python benchmarks/bench_tables.py

Environment variables:
    BENCH_BASE     base vectors .npy (default ../shared/data/wordnet/emb_f16.npy)
    BENCH_QUERIES  query vectors .npy (default ../shared/data/wordnet/query_emb.npy)
    BENCH_GT       exact top-k ids .npy (default ../shared/data/wordnet/gt.npy)
    BENCH_N        use the first N base vectors (default: all; ground truth is recomputed)
    BENCH_NQ       number of queries (default 200)
    BENCH_CONFIGS  comma list of configs (default: see lance_spiral.bench.tables.DEFAULT_CONFIGS)
    BENCH_OUT      output folder (default build/bench_tables)

Same as ``lance-spiral bench tables BASE --queries Q --gt GT --out DIR``; writes
``DIR/results.json`` and ``DIR/tables.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lance_spiral.bench.tables import DEFAULT_CONFIGS, run_bench

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "wordnet"


def main() -> int:
    env = os.environ.get
    n = env("BENCH_N")
    result = run_bench(
        env("BENCH_BASE", str(DATA / "emb_f16.npy")),
        env("BENCH_QUERIES", str(DATA / "query_emb.npy")),
        env("BENCH_OUT", str(ROOT / "build" / "bench_tables")),
        gt_path=env("BENCH_GT", str(DATA / "gt.npy")),
        configs=env("BENCH_CONFIGS", DEFAULT_CONFIGS),
        n=int(n) if n else None,
        nq=int(env("BENCH_NQ", "200")),
    )
    for row in result["rows"]:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
