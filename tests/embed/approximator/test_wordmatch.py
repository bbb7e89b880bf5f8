"""The numba batch tokeniser gives exactly the reference tokeniser's ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.embed.approximator.tokenizer import Tokenizer
from lance_spiral.errors import InvalidInputError
from lance_spiral.train.mining import Vocabulary, mine_entries


@pytest.fixture(scope="module")
def mined(pieces: list[str], train_pairs) -> tuple[list[str], list[str]]:
    entries = mine_entries(train_pairs[0], max_entries=3000, min_count=2, exclude=pieces)
    kinds, texts = Vocabulary.entry_list(pieces, entries)
    assert {"word", "ngram", "skip"} <= set(kinds)
    return kinds, texts


@pytest.fixture(scope="module")
def abstracts(shared_data: Path) -> list[str]:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text("utf-8").splitlines()[:400]
    docs = [json.loads(x) for x in lines if x.strip()]
    return [f"{d.get('title', '')} {d.get('text', '')}" for d in docs]


def rows(flat: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


EDGE = [
    "",
    "   ",
    "a",
    "##ing ##s un##known",
    "Zürich naïve café, co-operation; e.g. 3.14 -- [UNK] 🙂",
    "x" * 150,  # longer than any word piece run: one [UNK]
    "the the the the the the of of of",
    "of the",
]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"window": 254},
        {"window": 7},
        {"max_tokens": 5},
        {"max_tokens": 40, "window": 60},
        {"skipgrams": False},
    ],
    ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults",
)
def test_batch_ids_equal_reference_ids(mined, abstracts, train_pairs, settings) -> None:
    tok = Tokenizer(*mined, **settings)
    texts = [*abstracts, *train_pairs[0][:400], *EDGE]
    flat, offsets = tok.tokenize_batch(texts)
    assert flat.dtype == offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    want = [tok.tokenize(t) for t in texts]
    got = rows(flat, offsets)
    assert got == want
    # The texts exercised what the kernel does: n-grams, skip-grams, pieces, the cuts.
    kinds = np.array(mined[0])
    used = set(kinds[flat].tolist())
    assert {"word", "piece", "ngram"} <= used
    if settings.get("skipgrams", True):
        assert "skip" in used
    if "max_tokens" in settings:
        assert max(map(len, got)) == settings["max_tokens"]


def test_batch_edge_cases(mined) -> None:
    tok = Tokenizer(*mined)
    flat, offsets = tok.tokenize_batch([])
    assert flat.shape == (0,) and offsets.tolist() == [0]
    flat, offsets = tok.tokenize_batch([""])
    assert flat.shape == (0,) and offsets.tolist() == [0, 0]
    # The same unknown word twice in one batch, and a vocabulary without skip-grams.
    texts = ["qqzx qqzx", "qqzx"]
    assert rows(*tok.tokenize_batch(texts)) == [tok.tokenize(t) for t in texts]
    kinds, etexts = mined
    plain = Tokenizer(
        [k for k in kinds if k != "skip"],
        [t for k, t in zip(kinds, etexts, strict=True) if k != "skip"],
    )
    assert rows(*plain.tokenize_batch(EDGE)) == [plain.tokenize(t) for t in EDGE]
    with pytest.raises(InvalidInputError):
        tok.tokenize_batch("a string")
    with pytest.raises(InvalidInputError, match="int"):
        tok.tokenize_batch(["ok", 3])  # type: ignore[list-item]
