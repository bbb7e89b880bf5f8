"""Our side of the scale benchmark: one table ingested on Ray, searched three ways.

RAM mode, disk-resident mode and sharded on Ray actors, each with its automatic settings
(``recall_target``) and a sweep of explicit ones, as LanceDB's indexes get a sweep.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._optional import require
from lance_spiral.bench.scale_measure import Rss, result_row, time_queries
from lance_spiral.bench.synthetic import CHUNK, MixtureData

__all__ = ["SWEEP", "build_spiral", "spiral_rows"]

# Our settings swept besides the automatic ones (as LanceDB's are): RAM mode (nprobes, rerank;
# or nprobes, Hamming candidates narrowed by sign score to rerank),
# disk mode (nprobes, Hamming candidates, codes read), sharded (nprobes, rerank per shard).
SWEEP: dict[str, list[dict[str, int]]] = {
    "ram": [*({"nprobes": p, "rerank": d} for p, d in ((256, 1024), (512, 2048))),
            *({"nprobes": p, "candidates": c, "rerank": d}
              for p, c, d in ((128, 4096, 256), (200, 4096, 384), (256, 4096, 384),
                              (256, 8192, 512), (384, 8192, 512)))],
    "disk": [{"nprobes": p, "candidates": c, "rerank": d}
             for p, c, d in ((200, 4096, 128), (256, 4096, 192), (256, 6144, 256),
                             (384, 8192, 256), (256, 8192, 512))],
    "sharded": [{"nprobes": 256, "rerank": 1024}],
}
# Our single-table configurations: memory mode, and whether codes are read through a local
# disk cache of the code column (``cache_dir``) instead of Lance ``take``.
MODES: dict[str, tuple[str, bool]] = {"spiral-disk": ("disk", False),
                                      "spiral-disk-cache": ("disk", True),
                                      "spiral-ram": ("ram", False)}
class _Chunks:
    """Ray map function: chunk indices -> generated rows (``id``, ``vector``)."""

    def __init__(self, data: MixtureData, n: int) -> None:
        self.data, self.n = data, n

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        parts = []
        for c in np.asarray(batch["id"]).tolist():
            x = self.data.chunk(int(c), min(CHUNK, self.n - int(c) * CHUNK))
            parts.append(pa.table({
                "id": pa.array(np.arange(c * CHUNK, c * CHUNK + len(x), dtype=np.int64)),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])}))
        return pa.concat_tables(parts)


def build_spiral(data: MixtureData, n: int, uri: str, codec: str, nlist: int, keep: bool
                  ) -> float:
    """Ingest the rows on Ray (two workers); returns the build seconds."""
    ray = require("ray", "distributed")
    from lance_spiral.distributed import ingest

    stamp = Path(f"{uri}.build.json")
    if keep and stamp.exists() and Path(uri).exists():
        return float(json.loads(stamp.read_text())["build_s"])
    shutil.rmtree(uri, ignore_errors=True)
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    chunks = -(-n // CHUNK)
    src = ray.data.range(chunks, override_num_blocks=chunks).map_batches(
        _Chunks(data, n), batch_size=1, batch_format="numpy")
    t0 = time.perf_counter()
    ingest(src, uri, codec=codec, mode="compressed", nlist=nlist, num_workers=2,
           batch_size=min(CHUNK, max(256, -(-n // 8))))
    build = time.perf_counter() - t0
    stamp.write_text(json.dumps({"build_s": build}))
    return build


def _query(search: Any, v: Any, target: float, params: dict[str, int]) -> Any:
    s = search(v).limit(10).select([])
    if not params:
        return s.recall_target(target)
    for name, value in params.items():
        s = getattr(s, name)(value)
    return s


def _dir_bytes(path: Path) -> int:
    return int(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()))


def spiral_rows(uri: str, q: npt.NDArray[np.float32], gt: npt.NDArray[np.int64], n: int,
                build: float, configs: list[str], shards: int, target: float,
                save: Callable[[list[dict[str, Any]]], Any]) -> list[dict[str, Any]]:
    """Rows of our configurations: automatic settings (``params`` empty) then :data:`SWEEP`."""
    from lance_spiral.distributed import open_sharded
    from lance_spiral.table import open_table

    rows: list[dict[str, Any]] = []
    disk = _dir_bytes(Path(uri))
    for config, (memory, cached) in MODES.items():
        if config not in configs:
            continue
        cache_dir = None
        if cached:
            cache_dir = str(Path(uri).parent / f"codecache-{Path(uri).stem}")
            shutil.rmtree(cache_dir, ignore_errors=True)
        rss = Rss()
        t0 = time.perf_counter()
        t = open_table(uri, memory=memory, cache_dir=cache_dir)
        _query(t.search, q[0], target, {}).to_arrow()
        opened = time.perf_counter() - t0
        res = t.resident_bytes()
        # RAM mode also scores every row with the codec: the ceiling of any setting.
        ceiling = [{"rerank": n}] if memory == "ram" else []
        for params in [{}, *SWEEP[memory], *ceiling]:
            def one(v: Any, t: Any = t, params: dict[str, int] = params) -> Any:
                return np.asarray(_query(t.search, v, target, params).to_arrow().column("id"))

            ids, lat = time_queries(one, q)
            t1 = time.perf_counter()
            _query(t.search, q, target, params).to_arrow()
            batch_qps = len(q) / (time.perf_counter() - t1)
            tuned = {str(k): asdict(v) for k, v in t.hot_state().tuned.items()} \
                if not params else None
            extra = {} if cache_dir is None else {"cache_bytes": _dir_bytes(Path(cache_dir))}
            rows.append(result_row(
                config, ids, lat, gt, n, params=params, build_s=build,
                open_s=opened, disk_bytes=disk, resident_bytes=res,
                resident_per_vector=res / n, rss_delta_mb=rss.delta_mb(), qps_batch=batch_qps,
                tuned=tuned, **extra))
            save(rows)
        del t
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)
    if "spiral-sharded" in configs:
        t0 = time.perf_counter()
        st = open_sharded(uri, shards=shards)
        opened = time.perf_counter() - t0
        try:
            stats = st.shard_stats()
            res = int(sum(s["resident_bytes"] for s in stats))
            for params in [{}, *SWEEP["sharded"]]:
                def one_sh(v: Any, params: dict[str, int] = params) -> Any:
                    return np.asarray(_query(st.search, v, target, params).to_arrow()
                                      .column("id"))

                ids, lat = time_queries(one_sh, q)
                rows.append(result_row(
                    "spiral-sharded", ids, lat, gt, n, params=params, build_s=build,
                    open_s=opened, disk_bytes=disk, resident_bytes=res,
                    resident_per_vector=res / n, shards=shards,
                    shard_rss_mb=[s["rss_bytes"] / 1e6 for s in stats]))
                save(rows)
        finally:
            st.close()
    return rows
