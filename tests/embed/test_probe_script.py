"""benchmarks/approximator_probe.py: the context-attention variant and the paired comparison."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lance_spiral.embed.model import StudentConfig
from lance_spiral.errors import NotFoundError


@pytest.fixture
def script(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("approximator_probe")


def test_context_student_starts_as_the_base_student_and_learns(script: ModuleType) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    emb = np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32)
    cfg = StudentConfig(hidden=32, phi_hidden=32, rho_hidden=32, heads=4, out_dim=8)
    student = script.build_context_student(cfg, emb)
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7], [9, 0, 0, 0]])
    out = student(ids)
    assert out.shape == (3, 8)
    # The second pass enters through a zero-initialised projection: at first, the base student.
    assert torch.allclose(out, student.base(ids), atol=1e-6)
    # Permutation invariance holds for the second pass too.
    perm = torch.tensor([[3, 1, 0, 2], [2, 3, 0, 1], [0, 1, 2, 3]])
    assert torch.allclose(student(torch.gather(ids, 1, perm)), out, atol=1e-5)
    (1 - (out * torch.ones_like(out)).sum()).backward()
    assert student.mix.weight.grad is not None and student.mix.weight.grad.abs().sum() > 0
    with torch.no_grad():
        student.mix.weight.normal_()
        student.context_query[1].weight.normal_()
    assert not torch.allclose(student(ids), student.base(ids), atol=1e-3)


def test_probe_names_what_is_missing(script: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="vocabulary"):
        script.run("base", tmp_path / "out", model=tmp_path, epochs=1, threads=1)
    with pytest.raises(NotFoundError, match="base"):
        script.compare(tmp_path)


def test_compare_pairs_the_two_runs(script: ModuleType, tmp_path: Path) -> None:
    for variant, shift in (("base", 0.0), ("context", 0.01)):
        d = tmp_path / variant
        d.mkdir()
        (d / "result.json").write_text(json.dumps({"variant": variant}))
        np.save(d / "holdout_doc_cosine.npy", np.linspace(0.8, 0.9, 10) + shift)
        np.save(d / "wordnet_query_cosine.npy", np.linspace(0.7, 0.9, 10) - shift)
    res = script.compare(tmp_path)
    docs = res["context_vs_base"]["holdout_doc_cosine.npy"]
    assert docs["mean_diff"] == pytest.approx(0.01) and docs["share_better"] == 1.0
    assert res["context_vs_base"]["wordnet_query_cosine.npy"]["share_better"] == 0.0
    assert json.loads((tmp_path / "compare.json").read_text()) == res
