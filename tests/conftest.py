"""Shared fixtures: real data from ../shared/data (small slices), temporary tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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
