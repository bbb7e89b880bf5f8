"""Recall of small compressed tables (below ``fit_rows``): the provisional codec vs float16.

A table below ``fit_rows`` (1000) rows stores its vectors with the provisional codec
(:func:`lance_spiral.table.encode.provisional_codec`: SQ8 over ranges known for unit-norm
vectors, 384 B/vector at 384-d). Before it, such tables stored float16 (768 B/vector); a table
created with ``codec="float16"`` still stores exactly that and is the reference here.

Tables of 200 and 900 real SciFact corpus vectors are built through the table API in several
add patterns (one add; adds of 20 or 100 rows; single-row adds), each with 3 random row
samples, and searched with the 300 SciFact test queries; recall@10 is against exact cosine
top-10 over the same rows. Also reported: bytes per stored code, the stored codec, the number
of re-encodes (adds that changed the codec: provisional ranges widened).

Run (from the repository root):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/small_tables.py --out docs/bench/tables/small.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.codecs.metrics import exact_topk, recall_at
from lance_spiral.table import create_table

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))
PATTERNS = {200: (200, 20, 1), 900: (900, 100, 10)}
# sq:bits=4 (8x) for comparison: its provisional codec is SQ4 over the same known ranges


def load(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """SciFact corpus vectors and the test queries' vectors."""
    corpus = np.load(data / "scifact" / "corpus_emb.npy").astype(np.float32)
    queries = np.load(data / "scifact" / "query_emb.npy").astype(np.float32)
    with open(data / "scifact" / "queries.jsonl", encoding="utf-8") as fh:
        test = [i for i, line in enumerate(fh) if json.loads(line).get("split") == "test"]
    return corpus, queries[np.array(test)]


def table_recall(x: np.ndarray, q: np.ndarray, *, codec: str, batch: int, folder: str
                 ) -> dict[str, Any]:
    """Build a table of ``x`` in adds of ``batch`` rows; recall@10 of ``q`` and what it stored."""
    t = create_table(f"{folder}/t.lance", codec=codec, progress=False)
    adds = 0
    for s in range(0, len(x), batch):
        t.add({"id": [f"d{i}" for i in range(s, min(s + batch, len(x)))],
               "vector": x[s:s + batch]})
        adds += 1
    res = t.search(q).limit(10).to_arrow()
    qi = res.column("_query_index").to_numpy()
    ids = np.array([int(i[1:]) for i in res.column("id").to_pylist()])
    got = [ids[qi == i] for i in range(len(q))]
    gt = exact_topk(x, q, 10, metric="cosine")
    files = [t.checkout(v["version"]).meta.codec_file for v in t.versions()[1:]]
    return {"recall@10": recall_at(got, gt), "code_bytes": int(t.codec.code_bytes),
            "stored": t.meta.stored_codec, "provisional": t.meta.provisional,
            "adds": adds, "re_encodes": sum(a != b for a, b in itertools.pairwise(files))}


def run(data: Path, seeds: int = 3) -> dict[str, Any]:
    """Every size x pattern x codec, averaged over ``seeds`` row samples."""
    corpus, queries = load(data)
    rows: list[dict[str, Any]] = []
    for n, batches in PATTERNS.items():
        for batch in batches:
            for codec in ("float16", "sq:bits=8", "sq:bits=4"):
                runs = []
                for seed in range(seeds):
                    x = corpus[np.random.default_rng(seed).choice(len(corpus), n, replace=False)]
                    with tempfile.TemporaryDirectory() as folder:
                        runs.append(table_recall(x, queries, codec=codec, batch=batch,
                                                 folder=folder))
                rows.append({"rows": n, "add_batch": batch, "codec": codec,
                             "recall@10": round(float(np.mean([r["recall@10"] for r in runs])), 4),
                             "recall@10_min": round(float(min(r["recall@10"] for r in runs)), 4),
                             "code_bytes": runs[0]["code_bytes"], "stored": runs[0]["stored"],
                             "provisional": runs[0]["provisional"],
                             "re_encodes": max(r["re_encodes"] for r in runs)})
                print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows, "queries": len(queries), "seeds": seeds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-out/small_tables.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.data, args.seeds)
    out["command"] = ("HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/small_tables.py --out "
                      + str(args.out))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
