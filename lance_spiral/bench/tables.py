"""``lance-spiral bench tables``: compressed tables against LanceDB's native indexes.

Same base vectors and queries in LanceDB (no index, IVF_PQ + refine, IVF_RQ + refine,
IVF_HNSW_SQ) and in lance-spiral tables (compressed mode: 1-bit candidates + codec re-rank, flat
or IVF; alongside mode: a Lance IVF index gives candidates, the codes re-rank). Each row:
recall@10 against exact search, single-query p50/p95 latency, batch QPS, bytes of the whole
table directory, build time and the process's peak RSS during the configuration.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.errors import InvalidParameterError, NotFoundError

__all__ = ["CONFIGS", "add_arguments", "run", "run_bench"]

# config name -> (system, description)
CONFIGS: dict[str, tuple[str, str]] = {
    "lancedb-flat": ("lancedb", "no index (brute force)"),
    "lancedb-ivf_pq": ("lancedb", "IVF_PQ m=dim/8, nprobes 100, refine 20"),
    "lancedb-ivf_rq": ("lancedb", "IVF_RQ, nprobes 100, refine 20"),
    "lancedb-ivf_hnsw_sq": ("lancedb", "IVF_HNSW_SQ, ef 100"),
    "spiral-compressed": ("lance-spiral", "compressed: 1-bit scan + codec re-rank, auto k'"),
    "spiral-compressed-k1000": ("lance-spiral", "compressed: 1-bit scan + re-rank k'=1000"),
    "spiral-compressed-ivf": ("lance-spiral", "compressed: IVF nlist=256 nprobes=96, k'=1000"),
    "spiral-alongside-ivf_rq": ("lance-spiral", "alongside: IVF_RQ nprobes 100, codes re-rank 200"),
    "spiral-alongside-ivf_pq": ("lance-spiral", "alongside: IVF_PQ nprobes 100, codes re-rank 200"),
    "spiral-alongside-ivf_rq-exact": ("lance-spiral", "alongside: IVF_RQ nprobes 100, codes "
                                      "re-rank 200, exact floats for the best 20"),
}
DEFAULT_CONFIGS = ("lancedb-flat,lancedb-ivf_rq,lancedb-ivf_hnsw_sq,lancedb-ivf_pq,"
                   "spiral-compressed,spiral-compressed-k1000,spiral-alongside-ivf_rq")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    p.add_argument("base", help="base vectors .npy [n, d] (float16/32)")
    p.add_argument("--queries", required=True, help="query vectors .npy [nq, d]")
    p.add_argument("--gt", default=None, help="exact top-k ids .npy [nq, >=10] (else computed)")
    p.add_argument("--out", required=True, help="output folder (results.json, plot, tables/)")
    p.add_argument("--configs", default=DEFAULT_CONFIGS,
                   help=f"comma list from: {', '.join(CONFIGS)}")
    p.add_argument("--n", type=int, default=None, help="use the first N base vectors")
    p.add_argument("--nq", type=int, default=200, help="queries used (default 200)")
    p.add_argument("--codec", default="sq:bits=8", help="lance-spiral codec spec")
    p.add_argument("--keep-tables", action="store_true", help="keep the tables under OUT/tables")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed CLI arguments."""
    result = run_bench(
        args.base, args.queries, args.out, gt_path=args.gt, configs=args.configs, n=args.n,
        nq=args.nq, codec=args.codec, keep_tables=args.keep_tables,
        progress=not getattr(args, "quiet", False))
    for row in result["rows"]:
        print(f"{row['system']:>12} {row['config']:<26} recall@10 {row['recall_at_10']:.3f}  "
              f"p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  qps {row['qps']:8.1f}  "
              f"disk {row['disk_bytes'] / 1e6:8.1f} MB  build {row['build_s']:6.1f} s  "
              f"rss {row['peak_rss_mb']:7.0f} MB")
    return 0


class _PeakRSS:
    """Samples this process's RSS in a thread; ``peak_mb`` after ``stop``."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._loop, daemon=True)
        self._th.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def stop(self) -> float:
        self._stop.set()
        self._th.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return self.peak / 1e6


def _dir_bytes(path: Path) -> int:
    return int(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()))


def _time_queries(search: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]],
                  q: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int64], list[float]]:
    for i in range(min(5, len(q))):
        search(q[i])
    ids, lat = [], []
    for row in q:
        t0 = time.perf_counter()
        ids.append(search(row))
        lat.append(time.perf_counter() - t0)
    k = 10
    out = np.full((len(q), k), -1, dtype=np.int64)
    for i, r in enumerate(ids):
        out[i, : min(k, len(r))] = r[:k]
    return out, lat


def _lancedb_row(name: str, x: npt.NDArray[np.float32], q: npt.NDArray[np.float32],
                 work: Path) -> tuple[Callable[[Any], Any], Any, float, Path]:
    import lancedb

    db = lancedb.connect(str(work))
    tname = name.replace("-", "_")
    t0 = time.perf_counter()
    tbl = db.create_table(tname, pa.table({
        "id": pa.array(np.arange(len(x))),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])}),
        mode="overwrite")
    d = x.shape[1]
    kind = name.split("-", 1)[1]
    if kind == "ivf_pq":
        tbl.create_index(metric="cosine", index_type="IVF_PQ", num_sub_vectors=max(1, d // 8))
    elif kind == "ivf_rq":
        tbl.create_index(metric="cosine", index_type="IVF_RQ")
    elif kind == "ivf_hnsw_sq":
        tbl.create_index(metric="cosine", index_type="IVF_HNSW_SQ")
    build = time.perf_counter() - t0

    def search(v: Any) -> Any:
        s: Any = tbl.search(v)
        s = s.distance_type("cosine").limit(10).select(["id"])
        if kind in ("ivf_pq", "ivf_rq"):
            s = s.nprobes(100).refine_factor(20)
        elif kind == "ivf_hnsw_sq":
            s = s.ef(100).nprobes(20)
        return s.to_arrow()

    def ids(v: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        return np.asarray(search(v).column("id").to_numpy(), dtype=np.int64)

    return ids, tbl, build, work / f"{tname}.lance"


def _spiral_row(name: str, x: npt.NDArray[np.float32], work: Path, codec: str, progress: bool
                ) -> tuple[Callable[[Any], Any], Any, float, Path]:
    from lance_spiral.table import create_table

    path = work / f"{name}.lance"
    if path.exists():
        shutil.rmtree(path)
    data = {"id": np.arange(len(x)), "vector": x}
    t0 = time.perf_counter()
    opts: dict[str, Any] = {}
    if name == "spiral-compressed-ivf":
        opts["nlist"] = 256
    mode = "alongside" if "alongside" in name else "compressed"
    t = create_table(str(path), data, codec=codec, mode=mode, progress=progress, **opts)
    if mode == "alongside":
        kind = name.split("-")[2].upper()
        extra = {"num_sub_vectors": max(1, x.shape[1] // 8)} if kind == "IVF_PQ" else {}
        t.create_vector_index(kind, **extra)
    t.search(x[0]).limit(10).to_arrow()
    build = time.perf_counter() - t0

    def search(v: Any) -> Any:
        s = t.search(v).limit(10).select([])
        if name == "spiral-compressed-k1000":
            s = s.rerank(1000)
        elif name == "spiral-compressed-ivf":
            s = s.rerank(1000).nprobes(96)
        elif mode == "alongside":
            s = s.rerank(200).nprobes(100)
            if name.endswith("-exact"):
                s = s.exact_rerank(20)
        return s.to_arrow()

    def ids(v: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        return np.asarray(search(v).column("id").to_numpy(), dtype=np.int64)

    return ids, t, build, path


def run_bench(base: str, queries: str, out: str, *, gt_path: str | None = None,
              configs: str = DEFAULT_CONFIGS, n: int | None = None, nq: int = 200,
              codec: str = "sq:bits=8", keep_tables: bool = False, progress: bool = True
              ) -> dict[str, Any]:
    """Run the table benchmark and write ``OUT/results.json`` and ``OUT/tables.png``.

    Raises:
        NotFoundError: Missing input files.
        InvalidParameterError: Unknown config names or bad sizes.
    """
    from lance_spiral.codecs.metrics import exact_topk, recall_at

    names = [c.strip() for c in configs.split(",") if c.strip()]
    bad = [c for c in names if c not in CONFIGS]
    if bad or not names:
        raise InvalidParameterError(f"unknown configs {bad}; choose from {list(CONFIGS)}")
    for p in (base, queries, gt_path):
        if p is not None and not Path(p).exists():
            raise NotFoundError(f"file not found: {p}")
    xall = np.load(base, mmap_mode="r")
    x = np.ascontiguousarray(xall[: n or len(xall)], dtype=np.float32)
    q = np.ascontiguousarray(np.load(queries)[:nq], dtype=np.float32)
    if gt_path is not None and (n is None or n >= len(xall)):
        gt = np.load(gt_path)[: len(q), :10].astype(np.int64)
    else:
        gt = exact_topk(x, q, 10, metric="cosine")
    out_dir = Path(out)
    work = out_dir / "tables"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for name in names:
        system = CONFIGS[name][0]
        rss = _PeakRSS()
        if system == "lancedb":
            ids, handle, build, path = _lancedb_row(name, x, q, work)
        else:
            ids, handle, build, path = _spiral_row(name, x, work, codec, progress)
        qn = q[: min(len(q), 50)] if name == "lancedb-flat" else q
        pred, lat = _time_queries(ids, qn)
        t0 = time.perf_counter()
        if system == "lance-spiral":
            handle.search(qn).limit(10).select([]).to_arrow()
        else:
            for row in qn:
                ids(row)
        qps = len(qn) / (time.perf_counter() - t0)
        lat_ms = np.asarray(lat) * 1e3
        rows.append({
            "system": system, "config": name, "description": CONFIGS[name][1],
            "recall_at_10": float(recall_at(pred, gt[: len(qn)], 10)),
            "p50_ms": float(np.percentile(lat_ms, 50)), "p95_ms": float(np.percentile(lat_ms, 95)),
            "qps": float(qps), "disk_bytes": _dir_bytes(path), "build_s": float(build),
            "peak_rss_mb": float(rss.stop()), "n": len(x), "nq": len(qn),
        })
        del handle
        if not keep_tables:
            shutil.rmtree(path, ignore_errors=True)
    result = {"base": str(base), "n": len(x), "dim": int(x.shape[1]), "codec": codec,
              "rows": rows}
    (out_dir / "results.json").write_text(json.dumps(result, indent=2))
    _plot(rows, out_dir / "tables.png")
    return result


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in rows:
        marker = "o" if r["system"] == "lance-spiral" else "s"
        axes[0].scatter(r["p50_ms"], r["recall_at_10"], marker=marker)
        axes[0].annotate(r["config"], (r["p50_ms"], r["recall_at_10"]), fontsize=7)
        axes[1].scatter(r["disk_bytes"] / 1e6, r["recall_at_10"], marker=marker)
        axes[1].annotate(r["config"], (r["disk_bytes"] / 1e6, r["recall_at_10"]), fontsize=7)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("p50 single-query latency (ms, log)")
    axes[1].set_xlabel("table directory on disk (MB)")
    for ax in axes:
        ax.set_ylabel("recall@10")
        ax.grid(alpha=0.3)
    fig.suptitle("lance-spiral tables vs LanceDB native (squares)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
