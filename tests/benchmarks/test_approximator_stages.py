"""benchmarks/approximator_stages.py: per-stage inference times of a real (tiny) approximator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from lance_spiral.errors import NotFoundError


def test_stages_script_times_every_stage(
    benchmark_script: Callable[[str], ModuleType], tiny_model_dir: Path, tmp_path: Path
) -> None:
    script = benchmark_script("approximator_stages")
    out = tmp_path / "stages.json"
    result = script.main(
        [str(tiny_model_dir), "--texts", "8", "--seconds", "0.01", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == result
    assert result["known_words"] > 0 and result["word_tables_build_s"] > 0
    for length in ("short", "long"):
        ms = result["ms_per_batch"][length]
        # The tiny model has a context pass, as the default build does.
        assert set(ms) == {
            "split_words",
            "tokenize",
            "pool",
            "context",
            "head",
            "embed",
            "tokens_per_text",
        }
        assert min(ms.values()) > 0
    assert (
        result["ms_per_batch"]["long"]["tokens_per_text"]
        > result["ms_per_batch"]["short"]["tokens_per_text"]
    )


def test_stages_script_needs_the_fast_path(
    benchmark_script: Callable[[str], ModuleType], tiny_model_dir: Path
) -> None:
    from lance_spiral.embed.approximator import Approximator

    script = benchmark_script("approximator_stages")
    whole = Approximator.load(tiny_model_dir, fast=False)
    with pytest.raises(NotFoundError, match="fast-path"):
        script.stages(whole, ["a text"], 0.01)
