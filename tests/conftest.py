"""Shared fixtures: real data from ../shared/data (small slices), the real teacher, a tiny model."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lance_spiral.train.mining import Vocabulary, read_wordpieces
from lance_spiral.train.teacher import resolve_teacher_dir
from tests.support.tiny_model import tiny_approximator, wordnet_pairs

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set LANCE_SPIRAL_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (skips when absent; CI has it)."""
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def scifact_corpus_emb(shared_data: Path) -> np.ndarray:
    """float32 [5183, 384] real SciFact document embeddings (all-MiniLM-L6-v2, unit norm)."""
    return np.load(_need(shared_data / "scifact" / "corpus_emb.npy")).astype(np.float32)


@pytest.fixture(scope="session")
def scifact_query_emb(shared_data: Path) -> np.ndarray:
    """float32 [1109, 384] real SciFact query embeddings."""
    return np.load(_need(shared_data / "scifact" / "query_emb.npy")).astype(np.float32)


@pytest.fixture(scope="session")
def wordnet_sample(shared_data: Path) -> np.ndarray:
    """float32 [20000, 384]: the first 20,000 real WordNet gloss embeddings."""
    emb = np.load(_need(shared_data / "wordnet" / "emb_f16.npy"), mmap_mode="r")
    return np.asarray(emb[:20000], dtype=np.float32)


@pytest.fixture(scope="session")
def wordnet_queries(shared_data: Path) -> np.ndarray:
    """float32 [1000, 384] real WordNet query embeddings."""
    return np.load(_need(shared_data / "wordnet" / "query_emb.npy")).astype(np.float32)


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
    from lance_spiral.train.mining import mine_entries

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
        path = ROOT / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
