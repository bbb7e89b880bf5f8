"""``lance-spiral bench scale``: compressed tables at millions of rows against LanceDB's indexes.

For each ``n`` the rows come from :class:`~lance_spiral.bench.synthetic.MixtureData` (real
WordNet embeddings mixed with noise), ``nq`` queries likewise, with exact ground truth. Measured,
all in one run: our compressed table (built by :func:`lance_spiral.distributed.ingest` on Ray)
searched in RAM mode, in disk-resident mode (``memory="disk"``) and sharded on Ray actors; and
LanceDB tables of the same rows with native indexes, each over a sweep of its search settings.
Each row: build time, disk bytes, resident bytes (our hot state) and process RSS growth,
recall@10, single-query p50/p95 and QPS. ``OUT/results-n<N>.json`` per size and ``OUT/scale.png``
(cost against ``n`` over every results file in ``OUT``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.bench.report import write_results
from lance_spiral.bench.scale_measure import Rss, result_row, time_queries
from lance_spiral.bench.scale_native import NATIVE, build_native, sweep_native
from lance_spiral.bench.scale_spiral import build_spiral, spiral_rows
from lance_spiral.bench.synthetic import MixtureData, exact_ground_truth
from lance_spiral.errors import InvalidParameterError

__all__ = ["CONFIGS", "add_arguments", "run", "run_scale"]

CONFIGS = ("spiral-ram", "spiral-disk", "spiral-disk-cache", "spiral-sharded",
           *(f"lancedb-{k}" for k in NATIVE))
DEFAULT_CONFIGS = ("spiral-ram,spiral-disk,spiral-disk-cache,spiral-sharded,lancedb-ivf_rq,"
                   "lancedb-ivf_hnsw_sq,lancedb-ivf_sq")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    p.add_argument("--n", default="1000000", help="comma list of base sizes (rows)")
    p.add_argument("--nq", type=int, default=1000, help="queries (default 1000)")
    p.add_argument("--base", default="../shared/data/wordnet/emb_f16.npy",
                   help="real row embeddings the generator mixes")
    p.add_argument("--queries", default="../shared/data/wordnet/query_emb.npy",
                   help="real query embeddings the generator mixes")
    p.add_argument("--out", required=True, help="folder for results-n<N>.json and scale.png")
    p.add_argument("--work", required=True, help="folder for the tables (gigabytes)")
    p.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"from: {', '.join(CONFIGS)}")
    p.add_argument("--codec", default="sq:bits=8")
    p.add_argument("--nlist", type=int, default=-1, help="IVF partitions (-1: ~sqrt(n))")
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--recall-target", type=float, default=0.98,
                   help="recall target of our tables' automatic depth/nprobes (default 0.98, "
                        "the table's own default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-tables", action="store_true", help="keep (and reuse) the tables")


def run(args: argparse.Namespace) -> int:
    """Run from parsed CLI arguments; prints one line per row."""
    sizes = [int(s) for s in str(args.n).split(",") if s.strip()]
    for n in sizes:
        res = run_scale(n, args.nq, args.out, args.work, base=args.base, queries=args.queries,
                        configs=args.configs, codec=args.codec, nlist=args.nlist,
                        shards=args.shards, seed=args.seed, keep_tables=args.keep_tables,
                        recall_target=args.recall_target,
                        progress=not getattr(args, "quiet", False))
        for r in res["rows"]:
            print(f"n={n:>9,} {r['config']:<22} {json.dumps(r.get('params') or {}):<34} "
                  f"R@10 {r['recall_at_10']:.4f} p50 {r['p50_ms']:7.2f} ms p95 "
                  f"{r['p95_ms']:7.2f} ms qps {r['qps']:7.1f} build {r['build_s']:7.1f} s "
                  f"disk {r['disk_bytes'] / 1e6:8.1f} MB res {r.get('resident_bytes') or 0:>12,}")
        print(json.dumps(res["acceptance"], indent=1))
    plot_scale(Path(args.out))
    return 0


def run_scale(n: int, nq: int, out: str, work: str, *, base: str, queries: str,
              configs: str = DEFAULT_CONFIGS, codec: str = "sq:bits=8", nlist: int = -1,
              shards: int = 2, seed: int = 0, keep_tables: bool = False,
              recall_target: float = 0.98, progress: bool = True) -> dict[str, Any]:
    """Benchmark one size; writes ``OUT/results-n<n>.json`` and returns the result.

    Raises:
        InvalidParameterError: Unknown configs or bad sizes.
        NotFoundError: Missing embedding files.
    """
    names = [c.strip() for c in configs.split(",") if c.strip()]
    bad = [c for c in names if c not in CONFIGS]
    if bad or not names or n < 1 or nq < 1:
        raise InvalidParameterError(f"bad sizes or configs {bad}; choose from {list(CONFIGS)}")
    data = MixtureData(base, queries, seed=seed)
    q = data.queries(nq)
    wdir = Path(work)
    wdir.mkdir(parents=True, exist_ok=True)
    gt_file = wdir / f"gt-n{n}-nq{nq}-s{seed}.npy"
    t0 = time.perf_counter()
    if gt_file.exists():
        gt = np.load(gt_file)
    else:
        gt = exact_ground_truth(data, n, q, 10, progress=progress)[0]
        np.save(gt_file, gt)
    gt_s = time.perf_counter() - t0
    nl = nlist if nlist >= 0 else int(2 ** round(np.log2(max(np.sqrt(n), 1.0))))
    rows: list[dict[str, Any]] = []
    head = {"command": "lance-spiral bench scale", "n": n, "nq": nq, "dim": data.dim,
            "codec": codec, "nlist": nl, "shards": shards, "seed": seed,
            "recall_target": recall_target,
            "generator": {k: getattr(data, k) for k in ("w_lo", "sigma", "query_weight",
                                                        "query_sigma")},
            "ground_truth_s": gt_s}

    def save(done: list[dict[str, Any]], complete: bool = False) -> dict[str, Any]:
        result = {**head, "complete": complete, "rows": done,
                  "acceptance": acceptance(done, n)}
        folder = Path(out)
        path = write_results(result, folder)
        path.replace(folder / f"results-n{n}.json")
        return result

    uri = str(wdir / f"spiral-n{n}.lance")
    if any(c.startswith("spiral") for c in names):
        build = build_spiral(data, n, uri, codec, nl, keep_tables)
        rows += spiral_rows(uri, q, gt, n, build, names, shards, recall_target,
                            lambda r: save([*rows, *r]))
        save(rows)
        if not keep_tables:
            shutil.rmtree(uri, ignore_errors=True)
    for name in names:
        if not name.startswith("lancedb-"):
            continue
        kind = name.split("-", 1)[1]
        rss = Rss()
        tbl, build, disk = build_native(kind, data, n, wdir, reuse=keep_tables)
        for params, ids, lat in sweep_native(tbl, kind, q, time_queries):
            rows.append(result_row(name, ids, lat, gt, n, params=params, build_s=build,
                             disk_bytes=disk, rss_delta_mb=rss.delta_mb()))
        save(rows)
        del tbl
        if not keep_tables:
            shutil.rmtree(wdir / f"native_{kind}_{n}.lance", ignore_errors=True)
    return save(rows, complete=True)


def acceptance(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The issue's acceptance checks from the rows (``None`` where a row is missing).

    Ours: per mode, the fastest setting reaching recall@10 0.98 (else the best recall); against
    the fastest LanceDB setting whose recall is at least as high.
    """
    native = [r for r in rows if r["system"] == "lancedb"]

    def ours(mode: str) -> dict[str, Any] | None:
        mine = [r for r in rows if r["config"] == f"spiral-{mode}"]
        ok = [r for r in mine if r["recall_at_10"] >= 0.98]
        if ok:
            return min(ok, key=lambda r: r["p50_ms"])
        return max(mine, key=lambda r: r["recall_at_10"]) if mine else None

    ram, disk, cached = ours("ram"), ours("disk"), ours("disk-cache")

    def fastest_at(recall: float) -> dict[str, Any] | None:
        ok = [r for r in native if r["recall_at_10"] >= recall]
        return min(ok, key=lambda r: r["p50_ms"]) if ok else None

    out: dict[str, Any] = {"n": n}
    for label, r in (("ram", ram), ("disk", disk), ("disk-cache", cached)):
        if r is None:
            continue
        ref = fastest_at(r["recall_at_10"])
        out[label] = {
            "params": r.get("params"),
            "recall_at_10": r["recall_at_10"], "recall_ok": r["recall_at_10"] >= 0.98,
            "p50_ms": r["p50_ms"], "resident_per_vector": r["resident_per_vector"],
            "native_at_same_recall": None if ref is None else {
                "config": ref["config"], "params": ref.get("params"),
                "recall_at_10": ref["recall_at_10"], "p50_ms": ref["p50_ms"]},
            "p50_ratio_to_native": None if ref is None else r["p50_ms"] / ref["p50_ms"]}
    if "ram" in out and out["ram"]["p50_ratio_to_native"] is not None:
        out["ram"]["p50_ok"] = out["ram"]["p50_ratio_to_native"] <= 1 / 3
    for label in ("disk", "disk-cache"):
        if label in out:
            out[label]["resident_ok"] = out[label]["resident_per_vector"] <= 80
            if out[label]["p50_ratio_to_native"] is not None:
                out[label]["p50_ok"] = out[label]["p50_ratio_to_native"] <= 1.0
    return out


def plot_scale(folder: Path) -> Path | None:
    """``scale.png``: p50, resident and disk bytes per vector against ``n`` (every results file)."""
    files = sorted(folder.glob("results-n*.json"))
    if not files:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for f in files:
        res = json.loads(f.read_text())
        best: dict[str, dict[str, Any]] = {}
        for r in res["rows"]:
            cur = best.get(r["config"])
            if r["recall_at_10"] >= 0.95 and (cur is None or r["p50_ms"] < cur["p50_ms"]):
                best[r["config"]] = r
        for cfg, r in best.items():
            series.setdefault(cfg, []).append((int(res["n"]), r))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    keys = (("p50_ms", "p50 latency (ms) at recall@10 >= 0.95"),
            ("disk_per_vector", "disk bytes / vector"),
            ("resident_per_vector", "resident (hot state) bytes / vector"))
    for ax, (key, label) in zip(axes, keys, strict=True):
        for i, (cfg, pts) in enumerate(sorted(series.items())):
            pts.sort(key=lambda p: p[0])
            xy = [(nn, r["disk_bytes"] / nn if key == "disk_per_vector" else r.get(key))
                  for nn, r in pts]
            xy = [(x, y) for x, y in xy if y is not None]
            if xy:
                ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=cfg,
                        color=f"C{i}")
        ax.set_xscale("log")
        ax.set_xlabel("rows (n)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("lance-spiral bench scale: cost against n")
    fig.tight_layout()
    path = folder / "scale.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
