"""The feature-table probes (integrations/comparison) on our stores: the README's "ours" cells.

The other stores' columns need packages this project does not depend on (see
``integrations/comparison/feature_table.py``); ours are checked here so the table cannot drift.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two subprocesses importing both frameworks: ~25 s

COMPARISON = Path(__file__).resolve().parents[3] / "comparison"


def _probe(script: str, shared_data: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, str(COMPARISON / script), "lance-spiral",
                           str(shared_data / "scifact")], cwd=COMPARISON, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, str] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_our_langchain_column(shared_data: Path) -> None:
    got = _probe("probe_langchain.py", shared_data)
    relevance = got["relevance, score_threshold=0.4"]
    n, exact = relevance.split(" docs (exact cosine >= 0.4: ")
    assert n == exact.rstrip(")")
    assert got["where_document={'$contains': ...}"] == "honoured"
    assert got["unknown kwarg (fitler=)"] == "error: InvalidParameterError"
    assert got["filter={'group': 'a'}"].startswith("honoured")
    assert not [k for k, v in got.items() if v.startswith(("missing", "not implemented"))]


def test_our_llamaindex_column(shared_data: Path) -> None:
    got = _probe("probe_llamaindex.py", shared_data)
    assert got["query(..., where={...})"] == "honoured"
    assert got["mode text_search"].endswith("0 for an absent word")
    assert "stored_codec=sq:bits=8" in got["to_dict()"]
    assert got["query(..., unknown kwarg)"] == "error: InvalidParameterError"
    assert not [k for k, v in got.items() if v.startswith(("error", "missing", "not impl"))
                and "unknown" not in k]
