"""LanceDB's native vector indexes in the scale benchmark: build, then sweep search settings.

Each index gets its own LanceDB table of the same rows (so its disk bytes are its own; IVF_HNSW_SQ
is built with ``ef_construction=100`` instead of LanceDB's 300, a third of the build time on this
2-core machine, the search sweep over ``ef`` making up the recall). A sweep
over ``nprobes`` / ``ef`` (with ``refine_factor`` where LanceDB re-reads the floats) gives a
recall-latency curve; the fastest point at a recall is what the acceptance check compares with.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.bench.synthetic import MixtureData

__all__ = ["NATIVE", "build_native", "sweep_native"]

# index kind -> (create_index kwargs, sweep of query settings)
NATIVE: dict[str, tuple[dict[str, Any], list[dict[str, int]]]] = {
    "ivf_hnsw_sq": ({"index_type": "IVF_HNSW_SQ", "ef_construction": 100},
                    [{"ef": e, "nprobes": p} for p, e in ((10, 64), (20, 128), (20, 256),
                                                          (20, 512), (40, 512), (40, 1024))]),
    "ivf_sq": ({"index_type": "IVF_SQ"},
               [{"nprobes": p, "refine_factor": r} for p, r in ((20, 0), (50, 0), (50, 5),
                                                                (100, 5), (200, 5))]),
    "ivf_rq": ({"index_type": "IVF_RQ"},
               [{"nprobes": p, "refine_factor": r} for p, r in (
                   (20, 10), (50, 10), (50, 20), (75, 10), (75, 20), (100, 10), (100, 20),
                   (200, 20))]),
    "ivf_pq": ({"index_type": "IVF_PQ", "num_sub_vectors": 48},
               [{"nprobes": p, "refine_factor": r} for p, r in ((20, 10), (50, 10), (50, 20),
                                                                (100, 20), (200, 20))]),
}


def _dir_bytes(path: Path) -> int:
    return int(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()))


def build_native(kind: str, data: MixtureData, n: int, work: Path, *, reuse: bool = False
                 ) -> tuple[Any, float, int]:
    """A LanceDB table of the first ``n`` rows with a ``kind`` index.

    With ``reuse``, a table built by an earlier run (its build time recorded beside it) is
    opened instead of rebuilt.

    Returns:
        ``(table, build seconds (write + index), disk bytes)``.
    """
    import lancedb

    db = lancedb.connect(str(work))
    name = f"native_{kind}_{n}"
    stamp = work / f"{name}.build.json"
    if reuse and stamp.exists() and (work / f"{name}.lance").exists():
        tbl = db.open_table(name)
        tbl.cleanup_old_versions(older_than=timedelta(0))  # what an earlier write left behind
        return (tbl, float(json.loads(stamp.read_text())["build_s"]),
                _dir_bytes(work / f"{name}.lance"))
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), data.dim))])

    def batches() -> Any:
        for start, x in data.base(n):
            yield pa.record_batch([pa.array(np.arange(start, start + len(x))),
                                   pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)),
                                                                     x.shape[1])],
                                  schema=schema)

    shutil.rmtree(work / f"{name}.lance", ignore_errors=True)
    t0 = time.perf_counter()
    tbl = db.create_table(name, data=pa.RecordBatchReader.from_batches(schema, batches()))
    kwargs = dict(NATIVE[kind][0])
    tbl.create_index(metric="cosine", vector_column_name="vector", **kwargs)
    build = time.perf_counter() - t0
    stamp.write_text(json.dumps({"build_s": build}))
    return tbl, build, _dir_bytes(work / f"{name}.lance")


def sweep_native(tbl: Any, kind: str, queries: npt.NDArray[np.float32],
                 timer: Callable[[Callable[[Any], Any], npt.NDArray[np.float32]],
                                 tuple[npt.NDArray[np.int64], list[float]]]
                 ) -> list[tuple[dict[str, int], npt.NDArray[np.int64], list[float]]]:
    """Every sweep point: ``(settings, ids [nq, 10], latencies)``."""
    out = []
    for params in NATIVE[kind][1]:
        def search(v: Any, params: dict[str, int] = params) -> npt.NDArray[np.int64]:
            s: Any = tbl.search(v).distance_type("cosine").limit(10).select(["id"])
            if "nprobes" in params:
                s = s.nprobes(params["nprobes"])
            if "ef" in params:
                s = s.ef(params["ef"])
            if params.get("refine_factor"):
                s = s.refine_factor(params["refine_factor"])
            return np.asarray(s.to_arrow().column("id").to_numpy(), dtype=np.int64)

        ids, lat = timer(search, queries)
        out.append((params, ids, lat))
    return out
