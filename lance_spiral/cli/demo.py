"""``lance-spiral demo``: the whole job on the bundled WordNet sample.

Fits codecs on 3,000 real WordNet gloss embeddings and prints bytes / recall@10 / cosine per
codec; builds a compressed Lance table (``lance_spiral.table``) in ``--out``; then takes the 100
query *texts*, embeds each with the shipped approximator at demo time, searches the table with
it, and prints the hits as text, the time per query and the agreement with the teacher (cosine to
its precomputed query vectors, top-10 hits shared with the teacher's queries). Writes
``OUT/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral.sample import load_sample

__all__ = ["DEMO_CODECS", "add_arguments", "run", "run_demo"]

DEMO_CODECS = ("sq:bits=8", "sq:bits=4", "float16", "binary", "pq:m=48,bits=8")
TABLE_CODEC = "sq:bits=8"


def _codec_table(
    vecs: npt.NDArray[np.float32], qvecs: npt.NDArray[np.float32], progress: bool
) -> list[dict[str, Any]]:
    from lance_spiral.bench.codecs import bench_codecs
    from lance_spiral.codecs import available_codecs, parse_spec

    names = set(available_codecs())
    specs = [s for s in DEMO_CODECS if parse_spec(s)[0] in names]
    if not specs:
        return []
    result = bench_codecs(vecs, qvecs, specs=specs, rerank_codec="sq:bits=8" if "sq" in names
                          else None, rerank_k=50, timing_n=len(vecs), progress=progress)
    keep = ("codec", "bytes_per_vector", "param_bytes", "cos_mean", "recall_at_10",
            "recall_at_10_rerank")
    return [{k: r[k] for k in keep} for r in result["rows"]]


def _table_stage(
    out: Path, docs: list[dict[str, str]], vecs: npt.NDArray[np.float32],
    queries: list[dict[str, str]], qvecs: npt.NDArray[np.float32], show: int, progress: bool,
) -> tuple[dict[str, Any], Any, list[list[str]]]:
    """Build the table, search it with the teacher's query vectors: (facts, table, hit ids)."""
    from lance_spiral.codecs.metrics import exact_topk, recall_at
    from lance_spiral.table import create_table

    uri = out / "wordnet.lance"
    t0 = time.perf_counter()
    data = {
        "id": [d["id"] for d in docs],
        "title": [d["title"] for d in docs],
        "text": [d["text"] for d in docs],
        "vector": list(vecs),
    }
    table = create_table(str(uri), data, codec=TABLE_CODEC, metric="cosine", exist_ok=True,
                         progress=progress)
    if table.count_rows() != len(docs):
        # exist_ok reopened an older table: rebuild it from the sample.
        table.delete(sql="true")
        table.add(data)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = table.search(qvecs).limit(10).to_arrow()
    search_s = time.perf_counter() - t1
    qi = res.column("_query_index").to_numpy()
    ids = res.column("id").to_pylist()
    scores = res.column("_score").to_numpy()
    pos = {d["id"]: i for i, d in enumerate(docs)}
    found = np.full((len(queries), 10), -1, dtype=np.int64)
    fill = np.zeros(len(queries), dtype=np.int64)
    hits: dict[int, list[dict[str, Any]]] = {}
    for q, doc_id, s in zip(qi, ids, scores, strict=True):
        q = int(q)
        if fill[q] < 10:
            found[q, fill[q]] = pos[doc_id]
            fill[q] += 1
        hits.setdefault(q, []).append({"id": doc_id, "score": float(s),
                                       "title": docs[pos[doc_id]]["title"],
                                       "text": docs[pos[doc_id]]["text"]})
    exact = exact_topk(vecs, qvecs, 10, metric="cosine")
    recall = recall_at(found, exact, 10)
    examples = [{"query": queries[q]["text"], "hits": hits.get(q, [])[:3]}
                for q in range(min(show, len(queries)))]
    size = sum(p.stat().st_size for p in uri.rglob("*") if p.is_file())
    doc = {"uri": str(uri), "codec": TABLE_CODEC, "rows": int(table.count_rows()),
           "recall_at_10_vs_exact": recall, "build_s": round(build_s, 3),
           "search_s_100_queries": round(search_s, 4), "disk_bytes": int(size),
           "float32_bytes": int(vecs.nbytes), "examples": examples}
    return doc, table, [[docs[int(j)]["id"] for j in row if j >= 0] for row in found]


def _approximator_stage(
    table: Any, queries: list[dict[str, str]], qvecs: npt.NDArray[np.float32],
    teacher_hits: list[list[str]], show: int,
) -> dict[str, Any]:
    """Text queries -> the shipped approximator (now) -> the compressed table -> hits as text.

    Each query is embedded and searched on its own, as an application serves it; the teacher's
    precomputed query vectors serve only to measure agreement (cosine, shared top-10 hits).
    """
    from lance_spiral.embed.approximator import Approximator

    t0 = time.perf_counter()
    model = Approximator.load(cache_size=0, threads=1)  # one query per call, as an app
    load_s = time.perf_counter() - t0
    texts = [q["text"] for q in queries]
    t1 = time.perf_counter()
    model.embed(texts[:1])  # first call: numba kernels from their on-disk cache (or compiled)
    first_s = time.perf_counter() - t1
    embed_ms, search_ms, vecs, hits = [], [], [], []
    for text in texts:
        t2 = time.perf_counter()
        v = model.embed([text])[0]
        t3 = time.perf_counter()
        rows = table.search(v).limit(10).to_list()
        t4 = time.perf_counter()
        embed_ms.append(1e3 * (t3 - t2))
        search_ms.append(1e3 * (t4 - t3))
        vecs.append(v)
        hits.append(rows)
    cos = (np.stack(vecs) * qvecs).sum(1)
    overlap = [len({h["id"] for h in rows} & set(want)) / max(len(want), 1)
               for rows, want in zip(hits, teacher_hits, strict=True)]
    examples = [{"query": texts[q], "hits": [{"id": h["id"], "score": float(h["_score"]),
                                              "title": h["title"], "text": h["text"]}
                                             for h in hits[q][:3]]}
                for q in range(min(show, len(texts)))]
    return {
        "model": model.name, "model_dir": str(model.directory), "load_s": round(load_s, 3),
        "first_call_s": round(first_s, 3), "queries": len(texts),
        "embed_ms_median": float(np.median(embed_ms)),
        "search_ms_median": float(np.median(search_ms)),
        "query_ms_mean": float(np.mean(np.add(embed_ms, search_ms))),
        "cosine_to_teacher_mean": float(cos.mean()), "cosine_to_teacher_min": float(cos.min()),
        "top10_overlap_with_teacher_queries": float(np.mean(overlap)), "examples": examples,
    }


def run_demo(
    out: str | Path, *, data_dir: str | Path | None = None, show: int = 3,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the demo and write ``out/demo.json``; returns the same document.

    Args:
        out: Output folder (created).
        data_dir: Sample folder (default: the bundled one).
        show: Queries whose top hits are printed.
        progress: Show progress bars.

    Returns:
        ``{"sample": ..., "codecs": [...], "table": {...} | None, "table_note": ...,
        "approximator": {...} | None}``.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    docs, vecs, queries, qvecs = load_sample(data_dir)
    print(f"WordNet sample: {len(docs)} glosses x {vecs.shape[1]} dims, {len(queries)} queries")
    t0 = time.perf_counter()
    rows = _codec_table(vecs, qvecs, progress)
    doc: dict[str, Any] = {"sample": {"n": len(docs), "dim": int(vecs.shape[1]),
                                      "queries": len(queries)},
                           "codecs": rows, "codecs_s": round(time.perf_counter() - t0, 3),
                           "table": None, "table_note": None, "approximator": None}
    if rows:
        print(f"\n{'codec':<22}{'bytes/vec':>10}{'x smaller':>10}{'recall@10':>11}"
              f"{'+rerank':>9}{'cosine':>9}")
        for r in rows:
            rr = r["recall_at_10_rerank"]
            print(f"{r['codec']:<22}{r['bytes_per_vector']:>10.0f}"
                  f"{4 * vecs.shape[1] / r['bytes_per_vector']:>10.1f}"
                  f"{r['recall_at_10']:>11.3f}{'-' if rr is None else f'{rr:.3f}':>9}"
                  f"{r['cos_mean']:>9.4f}")
    else:
        print("no codecs registered: skipping the codec table")
    try:
        import lance_spiral.table  # noqa: F401
    except ImportError as exc:
        doc["table_note"] = f"lance_spiral.table unavailable: {exc}"
        print(f"\n{doc['table_note']}")
    else:
        tab, table, teacher_hits = _table_stage(out_dir, docs, vecs, queries, qvecs, show,
                                                progress)
        doc["table"] = tab
        print(f"\ncompressed Lance table {tab['uri']} ({tab['codec']}, {tab['rows']} rows,"
              f" {tab['disk_bytes'] / 1e6:.2f} MB on disk; float32 vectors alone"
              f" {tab['float32_bytes'] / 1e6:.2f} MB)")
        print(f"recall@10 vs exact search, {len(queries)} teacher query vectors:"
              f" {tab['recall_at_10_vs_exact']:.3f}")
        ap = _approximator_stage(table, queries, qvecs, teacher_hits, show)
        doc["approximator"] = ap
        print(f"\n{ap['queries']} text queries embedded now by the approximator {ap['model']}"
              f" (loaded in {ap['load_s']:.2f} s, first call {ap['first_call_s']:.2f} s),"
              " each searched in the compressed table:")
        print(f"  per query: embed {ap['embed_ms_median']:.2f} ms + search"
              f" {ap['search_ms_median']:.2f} ms (medians; mean total"
              f" {ap['query_ms_mean']:.2f} ms)")
        print(f"  agreement with the teacher (all-MiniLM-L6-v2): query-vector cosine mean"
              f" {ap['cosine_to_teacher_mean']:.3f} (min {ap['cosine_to_teacher_min']:.3f}),"
              f" top-10 hits shared with teacher queries"
              f" {ap['top10_overlap_with_teacher_queries']:.3f}")
        for ex in ap["examples"]:
            print(f"\nquery: {ex['query']}")
            for h in ex["hits"]:
                print(f"  {h['score']:.3f}  {h['title']}: {h['text'][:90]}")
    path = out_dir / "demo.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return doc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` arguments to ``parser``."""
    parser.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    parser.add_argument("--data", default=None, help="sample folder (default: bundled)")
    parser.add_argument("--show", type=int, default=3, help="queries whose hits are printed")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run ``lance-spiral demo`` from parsed arguments; returns the exit code."""
    run_demo(args.out, data_dir=args.data, show=args.show,
             progress=not bool(getattr(args, "quiet", False)))
    return 0
