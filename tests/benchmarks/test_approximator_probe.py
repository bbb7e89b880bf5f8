"""benchmarks/approximator_probe.py: the context-attention variant and the paired comparison."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lance_spiral.errors import NotFoundError


@pytest.fixture
def script(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("approximator_probe")


def test_probe_names_what_is_missing(script: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="vocabulary"):
        script.run("base", tmp_path / "out", model=tmp_path, epochs=1, threads=1)
    with pytest.raises(NotFoundError, match="base"):
        script.compare(tmp_path)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "result.json").write_text("{}")
    with pytest.raises(NotFoundError, match="small"):
        script.compare(tmp_path, ["small"])
    with pytest.raises(NotFoundError, match="no run besides base"):
        script.compare(tmp_path)


def test_compare_pairs_the_two_runs(script: ModuleType, tmp_path: Path) -> None:
    for variant, shift in (("base", 0.0), ("context", 0.01)):
        d = tmp_path / variant
        d.mkdir()
        (d / "result.json").write_text(json.dumps({"variant": variant}))
        np.save(d / "holdout_doc_cosine.npy", np.linspace(0.8, 0.9, 10) + shift)
        np.save(d / "wordnet_query_cosine.npy", np.linspace(0.7, 0.9, 10) - shift)
    res = script.compare(tmp_path)
    assert set(res["runs"]) == {"base", "context"}
    docs = res["vs_base"]["context"]["holdout_doc_cosine.npy"]
    assert docs["mean_diff"] == pytest.approx(0.01) and docs["share_better"] == 1.0
    assert res["vs_base"]["context"]["wordnet_query_cosine.npy"]["share_better"] == 0.0
    assert json.loads((tmp_path / "compare.json").read_text()) == res
