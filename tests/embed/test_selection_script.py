"""benchmarks/approximator_selection.py: the build-selection checks run on a real model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_selection_script_compares_builds(
    tiny_model_dir: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LANCE_SPIRAL_SHARED_DATA", str(shared_data))
    spec = importlib.util.spec_from_file_location(
        "approximator_selection", ROOT / "benchmarks" / "approximator_selection.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "sel.json"
    rows = script.main(
        [str(tiny_model_dir), str(tiny_model_dir), "--long-texts", "6", "--out", str(out)]
    )
    assert json.loads(out.read_text())["rows"] == rows and len(rows) == 2
    first, second = rows
    for row in rows:
        # The tiny model is trained for seconds, but it is in the teacher's space.
        assert 0.2 < row["wordnet_query_cosine"] <= 1 and 0.2 < row["long_text_cosine"] <= 1
    assert "vs_first" not in first
    assert second["vs_first"]["wordnet_query"]["mean_diff"] == 0
    assert second["wordnet_query_cosine"] == first["wordnet_query_cosine"]
