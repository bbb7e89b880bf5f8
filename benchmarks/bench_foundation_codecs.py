"""Foundation codecs on the full WordNet set: recall@10 on codes, re-ranking, encode/decode speed.

Measures, for sq (8/6/4/2 bits), binary (1, 2, 4 bits), float16 and lossless, on the 117,659 x 384
WordNet embeddings (float16 upcast to float32) and its 1,000 queries with exact top-100 ground
truth: bytes per vector, mean reconstruction cosine, recall@10 scored on codes, recall@10 after
re-ranking the top 100 with SQ8 codes (binary rows), and encode / decode vectors per second on
ONE core (best of ``REPEATS`` runs; numba and BLAS are pinned to one thread before import).

Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/bench_foundation_codecs.py [--out results.json]

Environment: ``LANCE_SPIRAL_SHARED_DATA`` (default ``../shared/data``) locates the data;
``BENCH_CODECS`` (comma-separated specs, ';' between specs) overrides the codec list;
``BENCH_REPEATS`` (default 3) sets timing repeats. Timings on a shared machine are indicative.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from lance_spiral.codecs import make_codec  # noqa: E402
from lance_spiral.codecs.metrics import recall_at  # noqa: E402
from lance_spiral.kernels.topk import topk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data")) / "wordnet"
DEFAULT_SPECS = ["sq:bits=8", "sq:bits=6", "sq:bits=4", "sq:bits=2", "binary", "binary:bits=2",
                 "binary:bits=4", "float16", "lossless"]
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def best_time(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up (numba compile / page-in)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    specs = os.environ.get("BENCH_CODECS", "").split(";") if os.environ.get("BENCH_CODECS") \
        else DEFAULT_SPECS
    x = np.load(DATA / "emb_f16.npy").astype(np.float32)
    q = np.load(DATA / "query_emb.npy").astype(np.float32)
    gt = np.load(DATA / "gt.npy")
    print(f"wordnet: {x.shape[0]} x {x.shape[1]}, {q.shape[0]} queries;"
          f" one core, best of {REPEATS}")
    sq8 = make_codec("sq:bits=8").fit(x)
    fine = sq8.score(sq8.prepare(q), sq8.encode(x))
    rows = []
    for spec in specs:
        codec = make_codec(spec).fit(x)
        codes = codec.encode(x)
        dec = codec.decode(codes)
        cos = (dec * x).sum(1) / np.linalg.norm(dec, axis=1) / np.linalg.norm(x, axis=1)
        t0 = time.perf_counter()
        scores = codec.score(codec.prepare(q), codes)
        t_score = time.perf_counter() - t0
        _, ids = topk(scores, 100)
        row = {
            "codec": codec.spec,
            "bytes_per_vector": codec.code_bytes,
            "param_bytes": codec.param_bytes,
            "cos_mean": float(cos.mean()),
            "recall_at_10": recall_at(ids, gt, 10),
            "recall_at_10_rerank_sq8_top100": None,
            "encode_vps": x.shape[0] / best_time(lambda c=codec: c.encode(x)),
            "decode_vps": x.shape[0] / best_time(lambda c=codec, k=codes: c.decode(k)),
            "score_s_1000q": t_score,
        }
        if codec.name == "binary":
            order = np.argsort(-np.take_along_axis(fine, ids, axis=1), axis=1, kind="stable")
            reranked = np.take_along_axis(ids, order[:, :10], axis=1)
            row["recall_at_10_rerank_sq8_top100"] = recall_at(reranked, gt, 10)
        rows.append(row)
        rr = row["recall_at_10_rerank_sq8_top100"]
        print(f"{row['codec']:<28} {row['bytes_per_vector']:>5} B  cos {row['cos_mean']:.5f}  "
              f"R@10 {row['recall_at_10']:.4f}  rerank {'-' if rr is None else f'{rr:.4f}'}  "
              f"enc {row['encode_vps'] / 1e6:6.2f} M/s  dec {row['decode_vps'] / 1e6:6.2f} M/s  "
              f"score {t_score:.2f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"n": int(x.shape[0]), "dim": int(x.shape[1]),
                                        "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
