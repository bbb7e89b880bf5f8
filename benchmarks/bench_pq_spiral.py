"""PQ / OPQ / residual / spiral-delta codecs and the auto-tuner on full WordNet, beside faiss.

How to run (from the repository root; the machine is shared, so be nice)::

    nice -n 10 .venv/bin/python benchmarks/bench_pq_spiral.py --pq --spiral --tuner --profiles \
        --out bench-out/pq_spiral.jsonl

Sections (any combination; none given = all):

* ``--pq``: recall@10 on codes at 48 and 96 bytes/vector for ``pq`` (m=48 bits=8, m=96 bits=4,
  m=96 bits=8, with/without OPQ) and ``rq``, beside faiss PQ / OPQ+PQ / IVF-PQ at the same bytes,
  in the same run; training time on ``LS_BENCH_TRAIN`` vectors; fast-scan recall and scan speed.
* ``--faiss``: only the faiss rows of ``--pq``.
* ``--spiral``: mean reconstruction cosine and recall of the spiral codec at <= 461 and <= 154
  bytes/vector (every byte counted) and the ordering report (delta norms per ordering).
* ``--tuner``: ``choose_codec`` on a 20k sample for targets 0.90/0.95/0.99; recall of the chosen
  codec on the 1,000 WordNet queries it never saw (against exact top-10 over all vectors).
* ``--profiles``: bytes, recall@10 and cosine of every named spiral profile.

Environment: ``LS_SHARED_DATA`` (default ``../shared/data``), ``LS_BENCH_TRAIN`` (training
vectors, default 100000), ``LS_TUNER_TARGETS`` (default ``0.90,0.95,0.99``).
One JSON object per result row is printed and appended to ``--out``.
Timings are wall-clock on whatever machine runs this: quote them with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.codecs import choose_codec, make_codec, ordering_report
from lance_spiral.codecs.metrics import recall_at, reconstruction_cosine
from lance_spiral.codecs.profiles import PROFILES, profile_spec

DATA = Path(os.environ.get("LS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared"
                           / "data")) / "wordnet"


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.load(DATA / "emb_f16.npy").astype(np.float32)
    q = np.load(DATA / "query_emb.npy").astype(np.float32)
    gt = np.load(DATA / "gt.npy")
    return x, q, gt


def emit(row: dict[str, Any], out: Path | None) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as f:
            f.write(line + "\n")


def ours(spec: str, x: np.ndarray, q: np.ndarray, gt: np.ndarray, n_train: int,
         fastscan: bool = False) -> dict[str, Any]:
    c = make_codec(spec)
    t0 = time.perf_counter()
    c.fit(x[:n_train])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    codes = c.encode(x)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, idx = c.search(q, codes, 10)
    search_s = time.perf_counter() - t0
    row: dict[str, Any] = {
        "system": "lance_spiral", "codec": c.spec, "bytes_per_vector": c.code_bytes,
        "param_bytes": c.param_bytes, "recall@10": round(recall_at(idx, gt, 10), 4),
        "cosine": round(float(reconstruction_cosine(x[:20000], c.decode(codes[:20000])).mean()), 6),
        "train_vectors": n_train, "fit_s": round(fit_s, 1), "encode_s": round(enc_s, 1),
        "search_1000q_s": round(search_s, 2)}
    if fastscan:
        blocks = c.fastscan_blocks(codes)  # type: ignore[attr-defined]
        _, fs = c.search_fastscan(q, codes, 10, blocks=blocks)  # type: ignore[attr-defined]
        row["fastscan_recall@10"] = round(recall_at(fs, gt, 10), 4)
        prep = c.prepare(q[:1])
        c.score_fastscan(prep, blocks, len(codes))  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        reps = 10
        for _ in range(reps):
            c.score_fastscan(prep, blocks, len(codes))  # type: ignore[attr-defined]
        dt = (time.perf_counter() - t0) / reps
        row["fastscan_1q_ms"] = round(dt * 1e3, 2)
        row["fastscan_Mvec_s"] = round(len(codes) / dt / 1e6, 1)
    return row


def faiss_row(factory: str, x: np.ndarray, q: np.ndarray, gt: np.ndarray,
              n_train: int, nprobe: int | None = None) -> dict[str, Any]:
    import faiss

    index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    index.train(x[:n_train])
    fit_s = time.perf_counter() - t0
    index.add(x)
    if nprobe is not None:
        faiss.extract_index_ivf(index).nprobe = nprobe
    _, idx = index.search(q, 10)
    code_size = index.sa_code_size()
    return {"system": "faiss", "codec": factory, "bytes_per_vector": int(code_size),
            "recall@10": round(recall_at(idx, gt, 10), 4), "fit_s": round(fit_s, 1),
            "train_vectors": n_train, "nprobe": nprobe}


def bench_pq(x: np.ndarray, q: np.ndarray, gt: np.ndarray, n_train: int,
             out: Path | None) -> None:
    for spec, fs in [("pq:m=48,bits=8", False), ("pq:m=96,bits=4", True),
                     ("pq:m=48,bits=8,opq=1", False), ("pq:m=96,bits=4,opq=1", True),
                     ("pq:m=96,bits=8", False), ("rq:nlist=256,m=47,bits=8", False)]:
        emit(ours(spec, x, q, gt, n_train, fastscan=fs), out)
    bench_faiss(x, q, gt, n_train, out)


def bench_faiss(x: np.ndarray, q: np.ndarray, gt: np.ndarray, n_train: int,
                out: Path | None) -> None:
    for factory in ["PQ48", "OPQ48,PQ48", "PQ96x4", "OPQ96,PQ96x4", "PQ96", "OPQ96,PQ96"]:
        emit(faiss_row(factory, x, q, gt, n_train), out)
    # IVF-PQ scans all lists here (nprobe = nlist) so only the codes limit recall.
    emit(faiss_row("IVF256,PQ47", x, q, gt, n_train, nprobe=256), out)


def bench_spiral(x: np.ndarray, q: np.ndarray, gt: np.ndarray, n_train: int,
                 out: Path | None) -> None:
    rep = ordering_report(x, sample=20000, nn_sample=3000)
    emit({"system": "lance_spiral", "ordering_report": {k: round(v, 4) for k, v in rep.items()}},
         out)
    for spec in ["spiral:compression_ratio=0.7", "spiral:compression_ratio=0.9",
                 "spiral:ordering=spiral_literal,n_subspaces=96"]:
        emit(ours(spec, x, q, gt, n_train), out)


def bench_profiles(x: np.ndarray, q: np.ndarray, gt: np.ndarray, n_train: int,
                   out: Path | None) -> None:
    for name in PROFILES:
        row = ours(profile_spec(name), x, q, gt, n_train)
        row["profile"] = name
        emit(row, out)


def bench_tuner(x: np.ndarray, q: np.ndarray, gt: np.ndarray, out: Path | None) -> None:
    rng = np.random.default_rng(0)
    sample = x[np.sort(rng.choice(len(x), 20000, replace=False))]
    targets = [float(t) for t in os.environ.get("LS_TUNER_TARGETS", "0.90,0.95,0.99").split(",")]
    for target in targets:
        t0 = time.perf_counter()
        res = choose_codec(sample, target_recall=target, metric="ip", seed=0)
        tune_s = time.perf_counter() - t0
        _, idx = res.codec.search(q, res.codec.encode(x), 10)
        emit({"system": "lance_spiral", "tuner_target": target, "chosen": res.spec,
              "bytes_per_vector": res.bytes_per_vector, "param_bytes": res.param_bytes,
              "heldout_recall@10": round(res.recall, 4),
              "unseen_queries_recall@10": round(recall_at(idx, gt, 10), 4),
              "met_on_unseen": recall_at(idx, gt, 10) >= target, "tune_s": round(tune_s, 1),
              "table": res.table}, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for s in ("pq", "faiss", "spiral", "tuner", "profiles"):
        ap.add_argument(f"--{s}", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    chosen = [s for s in ("pq", "faiss", "spiral", "tuner", "profiles") if getattr(args, s)]
    chosen = chosen or ["pq", "spiral", "tuner", "profiles"]
    n_train = int(os.environ.get("LS_BENCH_TRAIN", "100000"))
    x, q, gt = load()
    if "pq" in chosen:
        bench_pq(x, q, gt, n_train, args.out)
    if "faiss" in chosen and "pq" not in chosen:
        bench_faiss(x, q, gt, n_train, args.out)
    if "spiral" in chosen:
        bench_spiral(x, q, gt, n_train, args.out)
    if "tuner" in chosen:
        bench_tuner(x, q, gt, args.out)
    if "profiles" in chosen:
        bench_profiles(x, q, gt, n_train, args.out)


if __name__ == "__main__":
    main()
