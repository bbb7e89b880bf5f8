"""benchmarks/bench_read_path.py on a slice of the real WordNet set (small sizes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def test_read_path_benchmark_small(benchmark_script: Callable[[str], ModuleType],
                                   shared_data: Path, tmp_path: Path) -> None:
    script = benchmark_script("bench_read_path")
    out = tmp_path / "read_path.json"
    result = script.main([
        "--n-write", "3000", "--iterations", "4", "--n-memory", "3000", "--nq", "12",
        "--lancedb", "ivf_pq:nprobes=4", "--work", str(tmp_path / "work"), "--out", str(out),
        "--no-isolate"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    for w in result["write_path"]:
        assert w["rows_read_per_derived_state"] == [1]
        assert w["search_after_1_row_add"]["p50_ms"] > 0 and w["ratio_p50"] > 0
        assert w["fragments_at_end"] == 5
    rows = {r["config"]: r for r in result["memory_modes"]["configs"]}
    assert set(rows) == {"spiral-ram", "spiral-disk", "spiral-disk-cache", "ivf_pq:nprobes=4"}
    assert rows["spiral-disk"]["resident_bytes_per_vector"] <= 80
    assert rows["spiral-ram"]["resident_bytes_per_vector"] > 384
    for r in rows.values():
        assert r["recall_at_10"] >= 0.8 and r["nq"] == 12 and r["p95_ms"] >= r["p50_ms"] > 0
