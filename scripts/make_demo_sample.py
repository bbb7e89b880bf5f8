"""Regenerate the bundled demo sample in lance_spiral/data/ from ../shared/data/wordnet.

Usage: python scripts/make_demo_sample.py [--shared ../shared/data] [--n 3000] [--nq 100]

Picks ``--nq`` WordNet queries (every 10th of the 1,000 held-out ones), the synsets that are
their exact top-10 neighbours in the full 117,659-gloss set (so the demo's hits are meaningful),
and random other glosses up to ``--n``; writes their texts (jsonl), float16 embeddings (.npy),
and the query texts and embeddings. Deterministic (seed 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Write the sample files (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--nq", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "lance_spiral" / "data"))
    args = ap.parse_args()
    wn = Path(args.shared) / "wordnet"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    texts = [json.loads(line) for line in (wn / "texts.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (wn / "queries.jsonl").open(encoding="utf-8")]
    emb = np.load(wn / "emb_f16.npy", mmap_mode="r")
    qemb = np.load(wn / "query_emb.npy")
    gt = np.load(wn / "gt.npy")

    qsel = np.arange(0, len(queries), len(queries) // args.nq)[: args.nq]
    keep = set(gt[qsel, :10].reshape(-1).tolist())
    rng = np.random.default_rng(0)
    for i in rng.permutation(len(texts)):
        if len(keep) >= args.n:
            break
        keep.add(int(i))
    rows = np.array(sorted(keep), dtype=np.int64)

    np.save(out / "wordnet_emb_f16.npy", np.ascontiguousarray(emb[rows], dtype=np.float16))
    with (out / "wordnet_texts.jsonl").open("w", encoding="utf-8") as f:
        for i in rows:
            t = texts[int(i)]
            f.write(json.dumps({"id": t["id"], "title": t["title"], "text": t["text"]}) + "\n")
    np.save(out / "wordnet_query_emb.npy", qemb[qsel].astype(np.float32))
    with (out / "wordnet_queries.jsonl").open("w", encoding="utf-8") as f:
        for i in qsel:
            q = queries[int(i)]
            f.write(json.dumps({"id": q["id"], "text": q["text"]}) + "\n")
    size = sum(p.stat().st_size for p in out.glob("wordnet_*"))
    print(f"wrote {len(rows)} glosses and {len(qsel)} queries to {out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
