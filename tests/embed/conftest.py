"""Fixtures for the approximator tests: real teacher files, real WordNet pairs, a tiny model."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lance_spiral.embed.teacher import resolve_teacher_dir
from lance_spiral.embed.testing import tiny_approximator, wordnet_pairs
from lance_spiral.embed.vocab import Vocabulary, read_wordpieces


@pytest.fixture(scope="session")
def teacher_dir() -> Path:
    return resolve_teacher_dir()


@pytest.fixture(scope="session")
def pieces(teacher_dir: Path) -> list[str]:
    return read_wordpieces(teacher_dir / "vocab.txt")


@pytest.fixture(scope="session")
def train_pairs(shared_data: Path) -> tuple[list[str], np.ndarray]:
    return wordnet_pairs(400, data_dir=shared_data)


@pytest.fixture(scope="session")
def heldout_pairs(shared_data: Path) -> tuple[list[str], np.ndarray]:
    return wordnet_pairs(300, offset=7, data_dir=shared_data)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    return tiny_approximator(tmp_path_factory.mktemp("approx"), data_dir=shared_data)


@pytest.fixture(scope="session")
def small_vocab(
    pieces: list[str], train_pairs: tuple[list[str], np.ndarray]
) -> tuple[list[str], list[str]]:
    from lance_spiral.embed.vocab import mine_entries

    mined = mine_entries(train_pairs[0], max_entries=300, min_count=2, exclude=pieces)
    return Vocabulary.entry_list(pieces, mined)


@pytest.fixture
def benchmark_script(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], ModuleType]:
    """Load ``benchmarks/NAME.py`` as a module that reads the shared data offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LANCE_SPIRAL_SHARED_DATA", str(shared_data))

    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
