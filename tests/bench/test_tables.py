"""The table benchmark on a small real slice: the results file has every field, honestly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lance_spiral.bench.tables import run_bench
from lance_spiral.errors import InvalidParameterError


def test_bench_tables_small(tmp_path, scifact_corpus_emb, scifact_query_emb):
    base, queries = tmp_path / "base.npy", tmp_path / "q.npy"
    np.save(base, scifact_corpus_emb[:1500])
    np.save(queries, scifact_query_emb[:20])
    out = tmp_path / "out"
    run_bench(str(base), str(queries), str(out), configs="lancedb-flat,spiral-compressed",
              nq=20, progress=False)
    res = json.loads((out / "results.json").read_text())
    assert [r["config"] for r in res["rows"]] == ["lancedb-flat", "spiral-compressed"]
    keys = {"system", "config", "recall_at_10", "p50_ms", "p95_ms", "qps", "disk_bytes",
            "build_s", "peak_rss_mb"}
    for r in res["rows"]:
        assert keys <= set(r)
        assert r["disk_bytes"] > 0 and r["p50_ms"] > 0 and r["peak_rss_mb"] > 0
    flat, ours = res["rows"]
    assert flat["recall_at_10"] >= 0.99
    assert ours["recall_at_10"] >= 0.95
    assert ours["disk_bytes"] < flat["disk_bytes"]
    assert (out / "tables.png").stat().st_size > 0
    with pytest.raises(InvalidParameterError):
        run_bench(str(base), str(queries), str(out), configs="nope")
