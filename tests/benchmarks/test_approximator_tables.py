"""benchmarks/approximator_tables.py: int8 vs float tables of a real (small) distilled build."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("torch")

from lance_spiral.errors import NotFoundError
from lance_spiral.train.distill import TrainConfig
from lance_spiral.train.pipeline import distill_approximator
from lance_spiral.train.student import StudentConfig


def test_tables_script_compares_int8_with_float_tables(
    benchmark_script: Callable[[str], ModuleType], tmp_path: Path, train_pairs, tiny_model_dir: Path
) -> None:
    script = benchmark_script("approximator_tables")
    texts, emb = train_pairs
    (tmp_path / "c.txt").write_text("\n".join(texts) + "\n")
    np.save(tmp_path / "c.npy", emb)
    model = tmp_path / "m"
    distill_approximator(
        [tmp_path / "c.txt"],
        model,
        vocab_size=200,
        min_count=2,
        entry_init="static",
        # With a context pass, as the default build: its key table is compared too.
        model_config=StudentConfig(
            hidden=64, phi_hidden=64, rho_hidden=64, heads=2, context_heads=2, context_key_dim=32
        ),
        train_config=TrainConfig(epochs=2, batch_size=64, seed=0, threads=1),
        progress=False,
    )
    out = tmp_path / "tables.json"
    result = script.main([str(model), "--max-texts", "300", "--out", str(out)])
    assert json.loads(out.read_text()) == result and result["texts"] == 300
    assert result["tables_mb"]["int8"] < 0.3 * result["tables_mb"]["float32"]
    assert result["float32"]["cosine_to_float32_min"] > 0.99999
    assert result["int8"]["cosine_to_float32_min"] > 0.999
    assert result["float16"]["cosine_to_float32_min"] > 0.999
    assert abs(result["int8"]["cosine_to_teacher"] - result["float32"]["cosine_to_teacher"]) < 0.01
    with pytest.raises(NotFoundError, match="checkpoint"):
        script.main([str(tiny_model_dir), "--max-texts", "5", "--out", str(out)])
