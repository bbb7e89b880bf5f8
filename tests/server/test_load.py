"""benchmarks/server_load.py, short, against the running server: concurrent searches and adds,
no error, no lost or doubled row, latencies reported."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from tests.server.conftest import API_KEY, Running


def test_load_loses_nothing_and_reports_latency(
        benchmark_script: Callable[[str], ModuleType], running: Running) -> None:
    script = benchmark_script("server_load")
    report = script.measure(running.server.url, {"authorization": f"Bearer {API_KEY}"},
                            collection="load-short", clients=8, requests=400, add_share=0.25,
                            add_rows=3, seed_rows=1000, single=40, deadline=300)
    load = report["load"]
    assert load["errors"] == 0, load["error_samples"]
    assert load["responses"] == 400
    assert load["add"]["n"] > 50 and load["search"]["n"] > 250
    verify = report["verify"]
    assert verify["ok"], verify
    assert verify["rows_in_table"] == 1000 + 3 * load["add"]["n"]
    for part in (report["single_client_search"], load["search"], load["add"], load["all"]):
        assert 0 < part["p50_ms"] <= part["p99_ms"]
