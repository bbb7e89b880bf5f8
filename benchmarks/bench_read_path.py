"""The read path of compressed tables: search right after a write, and the two memory modes.

Run (from the repository root; LanceDB's index builds take minutes on the full WordNet set)::

    nice -n 10 .venv/bin/python benchmarks/bench_read_path.py

Two parts, on the shared real WordNet embeddings (117,659 x 384):

1. **Search after a write** (issue 22 item 8): a table of ``--n-write`` rows; each iteration
   times a search, adds one row (the add derives the new version's hot state from the previous
   one: it reads the one new row), and times the next search. p50/p95 of both, their ratio,
   the add's time, the rows read per derived state, and, for reference, a search that loads
   the whole state (a fresh handle). Per memory mode.
2. **Memory modes** (issue 20 item 3): one table of ``--n-memory`` rows searched in ``ram``
   mode, ``disk`` mode (re-rank codes read with Lance ``take``) and ``disk`` with a local cache
   folder: resident bytes per vector (``resident_bytes()``, and the process's anonymous-memory
   and RSS growth, measured in a fresh process after warming the libraries on a small table),
   recall@10 against exact search, single-query p50/p95; and
   LanceDB's IVF_HNSW_SQ / IVF_PQ indexes on the same vectors at a few settings. All searches
   of part 2 are timed interleaved (query by query, every configuration in turn), so the load
   of a shared machine falls on all of them alike.

Writes the JSON (``--out``, default ``docs/bench/read_path/results.json``) with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORDNET = DATA / "wordnet"
DEFAULT_LANCEDB = ("ivf_hnsw_sq:ef=40,ivf_hnsw_sq:ef=100,ivf_hnsw_sq:ef=200,"
                   "ivf_pq:nprobes=40,ivf_pq:nprobes=100")
Search = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.int64]]


def _pct(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean())}


def _recall(found: list[npt.NDArray[np.int64]], gt: npt.NDArray[np.int64]) -> float:
    return float(np.mean([len(set(f[:10].tolist()) & set(g[:10].tolist())) / 10
                          for f, g in zip(found, gt, strict=True)]))


# ---------------------------------------------------------------------- part 1: writes
def write_path(x: npt.NDArray[np.float32], q: npt.NDArray[np.float32], n: int,
               iterations: int, work: Path, memory: str) -> dict[str, Any]:
    """Search latency with and without a 1-row add before it, on an ``n``-row table."""
    from lance_spiral.table import create_table, open_table

    path = work / f"write-{memory}.lance"
    shutil.rmtree(path, ignore_errors=True)
    create_table(str(path), {"id": np.arange(n), "vector": x[:n]}, progress=False)
    t = open_table(str(path), memory=memory)
    for row in q[:5]:
        t.search(row).limit(10).select([]).to_arrow()
    plain, after, adds, loaded = [], [], [], []
    for i in range(iterations):
        row = q[i % len(q)]
        t0 = time.perf_counter()
        t.search(row).limit(10).select([]).to_arrow()
        plain.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        t.add({"id": [n + i], "vector": x[n + i:n + i + 1]})
        adds.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        t.search(row).limit(10).select([]).to_arrow()
        after.append((time.perf_counter() - t0) * 1e3)
        loaded.append(t.hot_state().loaded_rows)
    reload_ms = []
    for row in q[:3]:
        t0 = time.perf_counter()
        open_table(str(path), memory=memory).search(row).limit(10).select([]).to_arrow()
        reload_ms.append((time.perf_counter() - t0) * 1e3)
    p, a = _pct(plain), _pct(after)
    return {"memory": memory, "rows": n, "iterations": iterations,
            "search_without_add": p, "search_after_1_row_add": a,
            "ratio_p50": a["p50_ms"] / p["p50_ms"], "ratio_p95": a["p95_ms"] / p["p95_ms"],
            "add_1_row": _pct(adds), "rows_read_per_derived_state": sorted(set(loaded)),
            "fragments_at_end": len(t.dataset.get_fragments()),
            "full_reload_search_ms": float(np.median(reload_ms))}


# ------------------------------------------------------------------ part 2: memory modes
def _spiral(uri: str, memory: str, cache: Path | None) -> tuple[Any, Search]:
    from lance_spiral.table import open_table

    t = open_table(uri, memory=memory, cache_dir=None if cache is None else str(cache))

    def search(v: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        res = t.search(v).limit(10).select([]).to_arrow()
        return np.asarray(res.column("id").to_numpy(), dtype=np.int64)

    return t, search


def resident(uri: str, memory: str, cache: str | None, q: npt.NDArray[np.float32],
             warm: bool = True) -> dict[str, Any]:
    """Open, warm and query in this process; resident bytes and RSS growth.

    The libraries are warmed first on a small table of the same rows (imports, numba kernels,
    Lance's runtime), and Arrow's pool is trimmed before each RSS reading, so the growth is what
    the big table's state (and Lance's caches for it) keep. ``warm=False`` (the benchmark's test)
    skips that: the growth then includes the libraries.
    """
    import gc
    import tempfile

    import psutil

    from lance_spiral.table import create_table, open_table

    proc = psutil.Process()
    if warm:
        with tempfile.TemporaryDirectory() as tmp:
            small = _small_copy(uri, f"{tmp}/warm.lance", 9000, create_table)
            w = open_table(small, memory=memory)
            for row in q[:5]:
                w.search(row).limit(10).select([]).to_arrow()
            del w
    gc.collect()
    pa.default_memory_pool().release_unused()
    rss0, anon0 = proc.memory_info().rss, _anon_bytes()
    t0 = time.perf_counter()
    t, search = _spiral(uri, memory, None if cache is None else Path(cache))
    search(q[0])
    first = time.perf_counter() - t0
    for row in q[1:50]:
        search(row)
    gc.collect()
    pa.default_memory_pool().release_unused()
    n = t.hot_state().n_live
    return {"memory": memory, "disk_cache": cache is not None, "rows": n,
            "resident_bytes": t.resident_bytes(),
            "resident_bytes_per_vector": t.resident_bytes() / n,
            "rss_growth_bytes_per_vector": (proc.memory_info().rss - rss0) / n,
            "anon_growth_bytes_per_vector": (_anon_bytes() - anon0) / n,
            "first_query_s": first,
            "tuned": {str(k): asdict(v) for k, v in t.hot_state().tuned.items()}}


def _anon_bytes() -> int:
    """Anonymous resident memory of this process (Linux ``RssAnon``; else the whole RSS).

    Unlike RSS it leaves out file pages mapped in (the disk cache's memory maps are page
    cache, which the OS reclaims).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.Process().memory_info().rss)


def _small_copy(uri: str, dst: str, n: int, create: Any) -> str:
    """A compressed table of the first ``n`` rows of the table at ``uri`` (decoded vectors)."""
    from lance_spiral.table import open_table

    t = open_table(uri)
    head = t.dataset.to_table(columns=["id", t.meta.codes_column], limit=n)
    vec = t.decode_column(head.column(t.meta.codes_column))
    create(dst, {"id": head.column("id"), "vector": vec}, progress=False)
    return dst


def _resident_isolated(uri: str, memory: str, cache: Path | None, queries: str,
                       isolate: bool, q: npt.NDArray[np.float32]) -> dict[str, Any]:
    if not isolate:
        return resident(uri, memory, None if cache is None else str(cache), q, warm=False)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--resident", uri, "--memory", memory,
           "--queries", queries] + ([] if cache is None else ["--cache", str(cache)])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=str(ROOT))
    got: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return got


def _lancedb(spec: str, x: npt.NDArray[np.float32], work: Path, built: dict[str, Any],
             reuse: bool) -> tuple[dict[str, Any], Search]:
    import lancedb
    from lancedb.index import IvfHnswSq, IvfPq

    kind, _, opt = spec.partition(":")
    key, _, val = opt.partition("=")
    if kind not in ("ivf_hnsw_sq", "ivf_pq") or key not in ("ef", "nprobes") or not val:
        raise SystemExit(f"bad LanceDB config {spec!r} (ivf_hnsw_sq:ef=N or ivf_pq:nprobes=N)")
    if kind not in built:
        db = lancedb.connect(str(work / "lancedb"))
        stamp = work / "lancedb" / f"{kind}.build.json"
        if reuse and stamp.exists() and json.loads(stamp.read_text())["rows"] == len(x):
            tbl = db.open_table(kind)
            built[kind] = (tbl, json.loads(stamp.read_text())["build_s"])
        else:
            t0 = time.perf_counter()
            tbl = db.create_table(kind, pa.table({
                "id": pa.array(np.arange(len(x))),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)),
                                                            x.shape[1])}), mode="overwrite")
            config: Any = (IvfPq(distance_type="cosine", num_sub_vectors=max(1, x.shape[1] // 8))
                           if kind == "ivf_pq" else IvfHnswSq(distance_type="cosine"))
            tbl.create_index("vector", config=config)
            built[kind] = (tbl, time.perf_counter() - t0)
            stamp.write_text(json.dumps({"rows": len(x), "build_s": built[kind][1]}))
    tbl, build_s = built[kind]

    def search(v: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        s: Any = tbl.search(v).distance_type("cosine").limit(10).select(["id"])
        s = s.ef(int(val)).nprobes(20) if kind == "ivf_hnsw_sq" else \
            s.nprobes(int(val)).refine_factor(20)
        return np.asarray(s.to_arrow().column("id").to_numpy(), dtype=np.int64)

    desc = (f"IVF_HNSW_SQ ef {val}, nprobes 20" if kind == "ivf_hnsw_sq"
            else f"IVF_PQ m={x.shape[1] // 8}, nprobes {val}, refine 20")
    return {"system": "lancedb", "config": spec, "description": desc, "build_s": build_s}, search


def memory_modes(x: npt.NDArray[np.float32], q: npt.NDArray[np.float32],
                 gt: npt.NDArray[np.int64], work: Path, lancedb_specs: list[str],
                 queries_path: str, isolate: bool, reuse: bool = False) -> dict[str, Any]:
    """Resident memory, recall and interleaved latency of both modes and of LanceDB."""
    from lance_spiral.table import create_table

    path = work / "memory.lance"
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    create_table(str(path), {"id": np.arange(len(x)), "vector": x}, progress=False)
    build_s = time.perf_counter() - t0
    cache = work / "codes-cache"
    shutil.rmtree(cache, ignore_errors=True)
    modes = [("ram", None), ("disk", None), ("disk", cache)]
    configs: list[tuple[dict[str, Any], Search]] = []
    for memory, c in modes:
        res = _resident_isolated(str(path), memory, c, queries_path, isolate, q)
        _, search = _spiral(str(path), memory, c)
        name = f"spiral-{memory}" + ("-cache" if c is not None else "")
        desc = {"ram": "codes in RAM", "disk": "codes read with Lance take"}[memory]
        if c is not None:
            desc = "codes read from a local cache folder (memory map)"
        configs.append(({"system": "lance-spiral", "config": name, "description": desc,
                         "build_s": build_s, **res}, search))
    built: dict[str, Any] = {}
    for spec in lancedb_specs:
        configs.append(_lancedb(spec, x, work, built, reuse))
    for _, search in configs:
        for row in q[:5]:
            search(row)
    lat: list[list[float]] = [[] for _ in configs]
    found: list[list[npt.NDArray[np.int64]]] = [[] for _ in configs]
    for i, row in enumerate(q):
        for j in range(len(configs)):
            c_idx = (i + j) % len(configs)
            t0 = time.perf_counter()
            ids = configs[c_idx][1](row)
            lat[c_idx].append((time.perf_counter() - t0) * 1e3)
            found[c_idx].append(ids)
    rows = []
    for (info, _), ms, f in zip(configs, lat, found, strict=True):
        rows.append({**info, "recall_at_10": _recall(f, gt), **_pct(ms), "nq": len(q)})
    return {"rows": len(x), "dim": int(x.shape[1]), "configs": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns (and writes) the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=str(WORDNET / "emb_f16.npy"))
    p.add_argument("--queries", default=str(WORDNET / "query_emb.npy"))
    p.add_argument("--gt", default=str(WORDNET / "gt.npy"),
                   help="exact top-k ids of the full base (recomputed when --n-memory is less)")
    p.add_argument("--n-write", type=int, default=100000)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--n-memory", type=int, default=0, help="rows for part 2 (0: all)")
    p.add_argument("--nq", type=int, default=300)
    p.add_argument("--lancedb", default=DEFAULT_LANCEDB, help="comma list, or 'none'")
    p.add_argument("--work", default=str(ROOT / "build" / "bench_read_path"))
    p.add_argument("--out", default=str(ROOT / "docs" / "bench" / "read_path" / "results.json"))
    p.add_argument("--no-isolate", action="store_true",
                   help="measure resident memory in this process (no fresh process per mode)")
    p.add_argument("--skip-write", action="store_true")
    p.add_argument("--reuse-lancedb", action="store_true",
                   help="reuse LanceDB tables indexed by an earlier run in --work (same rows;"
                        " their measured build time is kept)")
    p.add_argument("--resident", default=None, help=argparse.SUPPRESS)
    p.add_argument("--memory", default="ram", help=argparse.SUPPRESS)
    p.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    q = np.ascontiguousarray(np.load(args.queries)[: args.nq], dtype=np.float32)
    if args.resident is not None:
        out = resident(args.resident, args.memory, args.cache, q)
        print(json.dumps(out))
        return out
    base = np.load(args.base, mmap_mode="r")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": "python benchmarks/bench_read_path.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
                    "python": platform.python_version()},
        "base": str(args.base)}
    if not args.skip_write:
        need = args.n_write + args.iterations
        x = np.ascontiguousarray(base[:need], dtype=np.float32)
        result["write_path"] = [write_path(x, q, args.n_write, args.iterations, work, m)
                                for m in ("ram", "disk")]
    n = args.n_memory or len(base)
    x = np.ascontiguousarray(base[:n], dtype=np.float32)
    if n >= len(base):
        gt = np.load(args.gt)[: len(q), :10].astype(np.int64)
    else:
        from lance_spiral.codecs.metrics import exact_topk

        gt = exact_topk(x, q, 10, metric="cosine")
    specs = [] if args.lancedb == "none" else [s for s in args.lancedb.split(",") if s]
    result["memory_modes"] = memory_modes(x, q, gt, work, specs, args.queries,
                                          not args.no_isolate, args.reuse_lancedb)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    for w in result.get("write_path", []):
        plain, after = w["search_without_add"], w["search_after_1_row_add"]
        print(f"[{w['memory']}] {w['rows']} rows: search p50 {plain['p50_ms']:.2f} ms, after a"
              f" 1-row add {after['p50_ms']:.2f} ms (x{w['ratio_p50']:.2f}; p95"
              f" x{w['ratio_p95']:.2f}); rows read {w['rows_read_per_derived_state']};"
              f" full reload {w['full_reload_search_ms']:.0f} ms")
    for r in result["memory_modes"]["configs"]:
        extra = (f"  resident {r['resident_bytes_per_vector']:.1f} B/vector"
                 if "resident_bytes_per_vector" in r else "")
        print(f"{r['config']:<24} recall@10 {r['recall_at_10']:.4f}  p50 {r['p50_ms']:6.2f} ms"
              f"  p95 {r['p95_ms']:6.2f} ms{extra}")


if __name__ == "__main__":
    main()
