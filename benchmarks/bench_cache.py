"""Tiered embedding cache in front of Bedrock Titan: hit rates per tier and server calls saved.

Workload: a pool of real texts (the 1,109 SciFact claims + WordNet glosses), requested in
batches whose texts are drawn with a Zipf distribution over the pool (a few texts are very
popular, most are rare -- the repeat pattern of queries and re-ingested documents). The run is
split into sessions; each session starts a new process-like embedder (new ``BedrockEmbedder``,
empty memory tiers) on the same ``cache_dir``, so the on-disk Lance tier carries over restarts.
Requests go through boto3 to the local InvokeModel server of the test suite (127.0.0.1), which
counts every call. The baseline is one call per requested text (LanceDB's built-in Bedrock
function: no cache, no dedupe).

Run (from the repository root):

    .venv/bin/python benchmarks/bench_cache.py                 # defaults below
    .venv/bin/python benchmarks/bench_cache.py --sessions 6 --batches 200 --out build/x.json

Sizing env vars (flags win): BENCH_CACHE_POOL (WordNet texts in the pool, default 5000),
BENCH_CACHE_SESSIONS (4), BENCH_CACHE_BATCHES (batches per session, 100), BENCH_CACHE_BATCH (32),
BENCH_CACHE_ZIPF (exponent, 1.1), BENCH_CACHE_L2_CODEC ("sq:bits=8").
Prints a table and writes JSON (default build/bench_cache.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT / "tests" / "embed"))


def load_pool(n_wordnet: int, seed: int) -> list[str]:
    claims = [json.loads(line)["text"] for line in
              (DATA / "scifact" / "queries.jsonl").open(encoding="utf-8")]
    rows = [json.loads(line) for line in (DATA / "wordnet" / "texts.jsonl").open(encoding="utf-8")]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(rows), size=min(n_wordnet, len(rows)), replace=False)
    glosses = [f"{rows[i]['title']} {rows[i]['text']}" for i in pick]
    pool = list(dict.fromkeys(claims + glosses))
    order = rng.permutation(len(pool))  # popularity rank is unrelated to the source
    return [pool[i] for i in order]


def zipf_batches(n_pool: int, n_batches: int, batch: int, s: float,
                 rng: np.random.Generator) -> np.ndarray:
    ranks = np.arange(1, n_pool + 1, dtype=np.float64)
    p = ranks ** -s
    p /= p.sum()
    return rng.choice(n_pool, size=(n_batches, batch), p=p)


def main() -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pool", type=int, default=int(env("BENCH_CACHE_POOL", "5000")))
    ap.add_argument("--sessions", type=int, default=int(env("BENCH_CACHE_SESSIONS", "4")))
    ap.add_argument("--batches", type=int, default=int(env("BENCH_CACHE_BATCHES", "100")))
    ap.add_argument("--batch", type=int, default=int(env("BENCH_CACHE_BATCH", "32")))
    ap.add_argument("--zipf", type=float, default=float(env("BENCH_CACHE_ZIPF", "1.1")))
    ap.add_argument("--l2-codec", default=env("BENCH_CACHE_L2_CODEC", "sq:bits=8"))
    ap.add_argument("--l1-mib", type=float, default=1.0)
    ap.add_argument("--l2-mib", type=float, default=2.0)
    ap.add_argument("--dimensions", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_cache.json"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    # Dummy credentials for the local server only; boto3 signs with them, nothing leaves 127.0.0.1.
    for k, v in (("AWS_ACCESS_KEY_ID", "AKIABENCHLOCALONLY00"),
                 ("AWS_SECRET_ACCESS_KEY", "bench-local-only"),
                 ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ[k] = v
    from bedrock_server import BedrockServer
    from tqdm.auto import tqdm

    from lance_spiral.embed import BedrockEmbedder

    pool = load_pool(args.pool, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    sessions_out = []
    t_start = time.perf_counter()
    with BedrockServer() as server, tempfile.TemporaryDirectory() as cache_dir:
        for s in range(args.sessions):
            server.reset()
            emb = BedrockEmbedder(
                endpoint_url=server.endpoint_url, cache_dir=cache_dir,
                dimensions=args.dimensions, requests_per_minute=None, tokens_per_minute=None,
                l1_bytes=int(args.l1_mib * 2**20), l2_bytes=int(args.l2_mib * 2**20),
                l2_codec=args.l2_codec, max_concurrency=8)
            batches = zipf_batches(len(pool), args.batches, args.batch, args.zipf, rng)
            requested = unique_in_batches = 0
            t0 = time.perf_counter()
            for b in tqdm(batches, desc=f"session {s + 1}", disable=args.quiet):
                texts = [pool[i] for i in b]
                emb.embed(texts)
                requested += len(texts)
                unique_in_batches += len(set(texts))
            emb.close()
            elapsed = time.perf_counter() - t0
            st = emb.stats()
            c = st["cache"]
            lookups = c["l1_hits"] + c["l1_misses"]
            row = {
                "session": s + 1,
                "texts_requested": requested,
                "after_batch_dedupe": unique_in_batches,
                "cache_lookups": lookups,
                "l1_hits": c["l1_hits"], "l2_hits": c["l2_hits"], "l3_hits": c["l3_hits"],
                "l1_hit_rate": c["l1_hits"] / lookups,
                "l2_hit_rate_of_l1_misses": c["l2_hits"] / max(1, c["l1_misses"]),
                "l3_hit_rate_of_l2_misses": c["l3_hits"] / max(1, c["l2_misses"]),
                "overall_hit_rate": c["hit_rate"],
                "server_calls": server.requests,
                "calls_saved_vs_one_per_text": requested - server.requests,
                "calls_saved_fraction": 1 - server.requests / requested,
                "l1_entries": c["l1_entries"], "l1_bytes": c["l1_bytes"],
                "l2_entries": c["l2_entries"], "l2_bytes": c["l2_bytes"],
                "l3_rows_written": c["l3_rows_written"],
                "seconds": round(elapsed, 2),
            }
            sessions_out.append(row)
    total_req = sum(r["texts_requested"] for r in sessions_out)
    total_calls = sum(r["server_calls"] for r in sessions_out)
    result = {
        "workload": {"pool_texts": len(pool), "sessions": args.sessions,
                     "batches_per_session": args.batches, "batch": args.batch,
                     "zipf_s": args.zipf, "dimensions": args.dimensions,
                     "l1_bytes": int(args.l1_mib * 2**20), "l2_bytes": int(args.l2_mib * 2**20),
                     "l2_codec": args.l2_codec},
        "sessions": sessions_out,
        "total": {"texts_requested": total_req, "server_calls": total_calls,
                  "calls_saved_fraction": 1 - total_calls / total_req,
                  "distinct_texts_requested_bound": len(pool),
                  "seconds": round(time.perf_counter() - t_start, 2)},
        "note": "local 127.0.0.1 server; timings on a shared, loaded 2-core machine",
    }
    hdr = (f"{'sess':>4} {'texts':>6} {'L1 hit':>7} {'L2 hit':>7} {'L3 hit':>7} {'overall':>8} "
           f"{'calls':>6} {'saved':>6} {'s':>6}")
    print(hdr)
    for r in sessions_out:
        print(f"{r['session']:>4} {r['texts_requested']:>6} {r['l1_hits']:>7} {r['l2_hits']:>7} "
              f"{r['l3_hits']:>7} {r['overall_hit_rate']:>8.3f} {r['server_calls']:>6} "
              f"{r['calls_saved_fraction']:>6.1%} {r['seconds']:>6}")
    print(f"total: {total_req} texts requested, {total_calls} server calls "
          f"({result['total']['calls_saved_fraction']:.1%} saved vs one call per text)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
