"""benchmarks/server_load.py, short: a real server under concurrent searches and adds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def test_load_loses_nothing_and_reports_latency(
        benchmark_script: Callable[[str], ModuleType], tmp_path: Path) -> None:
    script = benchmark_script("server_load")
    report = script.run(clients=8, requests=400, add_share=0.25, add_rows=3, seed_rows=1000,
                        single=40, deadline=300, work_dir=tmp_path)
    load = report["load"]
    assert load["errors"] == 0, load["error_samples"]
    assert load["responses"] == 400
    assert load["add"]["n"] > 50 and load["search"]["n"] > 250
    verify = report["verify"]
    assert verify["ok"], verify
    assert verify["rows_in_table"] == 1000 + 3 * load["add"]["n"]
    for part in (report["single_client_search"], load["search"], load["add"], load["all"]):
        assert 0 < part["p50_ms"] <= part["p99_ms"]
