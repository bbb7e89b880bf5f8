"""benchmarks/small_tables.py: one small table per codec, what it reports, the JSON it writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest


@pytest.fixture
def script(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("small_tables")


def test_small_tables_run_writes_what_it_measured(script, shared_data, tmp_path, monkeypatch):
    corpus, queries = script.load(shared_data)
    assert queries.shape == (300, 384)
    row = script.table_recall(corpus[:60], queries[:20], codec="sq:bits=8", batch=30,
                              folder=str(tmp_path))
    assert row["code_bytes"] == 384 and row["provisional"] and row["adds"] == 2
    assert row["stored"].startswith("sq:bits=8") and row["recall@10"] > 0.9
    monkeypatch.setattr(script, "PATTERNS", {40: (40,)})
    out = tmp_path / "small.json"
    assert script.main(["--data", str(shared_data), "--seeds", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["codec"] for r in res["rows"]] == ["float16", "sq:bits=8", "sq:bits=4"]
    assert res["rows"][0]["code_bytes"] == 768 and "small_tables.py" in res["command"]
