"""Measuring helpers of the scale benchmark: query timing, result rows, RSS growth."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._optional import require
from lance_spiral.codecs.metrics import recall_at

__all__ = ["Rss", "result_row", "time_queries"]


def time_queries(search: Callable[[Any], npt.NDArray[np.int64]], q: npt.NDArray[np.float32]
                  ) -> tuple[npt.NDArray[np.int64], list[float]]:
    """Warm up on 5 queries, then time each query alone: ``(ids [nq, 10], seconds each)``."""
    for row in q[:5]:
        search(row)
    out = np.full((len(q), 10), -1, dtype=np.int64)
    lat = []
    for i, row in enumerate(q):
        t0 = time.perf_counter()
        got = search(row)
        lat.append(time.perf_counter() - t0)
        out[i, : min(10, len(got))] = got[:10]
    return out, lat


def result_row(config: str, ids: npt.NDArray[np.int64], lat: list[float], gt: npt.NDArray[np.int64],
         n: int, **extra: Any) -> dict[str, Any]:
    """One result row: recall@10 against ``gt``, p50/p95 latency, sequential QPS, extras."""
    ms = np.asarray(lat) * 1e3
    return {"system": "lancedb" if config.startswith("lancedb") else "lance-spiral",
            "config": config, "n": n, "nq": len(lat),
            "recall_at_10": float(recall_at(ids, gt[: len(ids)], 10)),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "qps": float(len(lat) / max(ms.sum() / 1e3, 1e-9)), **extra}


class Rss:
    """Growth of this process's resident set since construction (after a garbage collection)."""

    def __init__(self) -> None:
        self._p = require("psutil", "bench").Process()
        gc.collect()
        self.start = self._p.memory_info().rss

    def delta_mb(self) -> float:
        """Megabytes the RSS grew by."""
        return float((self._p.memory_info().rss - self.start) / 1e6)
