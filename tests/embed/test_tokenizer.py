from __future__ import annotations

import time

import numpy as np
import pytest

from lance_spiral.embed.tokenizer import MAX_TOKENS, Tokenizer
from lance_spiral.errors import InvalidInputError, InvalidParameterError


@pytest.fixture(scope="module")
def tok(pieces: list[str]) -> Tokenizer:
    from lance_spiral.embed.vocab import Vocabulary

    mined = [
        ("word", "zebrafish"),
        ("ngram", "new york"),
        ("ngram", "new york city"),
        ("ngram", "heart attack"),
        ("skip", "heart _ attack"),
        ("skip", "risk _ disease"),
    ]
    kinds, texts = Vocabulary.entry_list(pieces, mined)
    return Tokenizer(kinds, texts)


def test_longest_match_prefers_longer_ngrams(tok: Tokenizer) -> None:
    ids = tok.tokenize("I love New York City and new york")
    assert ids == [
        tok._words["i"],
        tok._words["love"],
        tok._grams["new york city"],
        tok._words["and"],
        tok._grams["new york"],
    ]


def test_skipgrams_emitted(tok: Tokenizer) -> None:
    ids = tok.tokenize("risk of disease")
    assert tok._skips["risk _ disease"] in ids
    no_skip = Tokenizer(["pad", "word", "skip"], ["", "risk", "risk _ disease"], skipgrams=False)
    assert 2 not in no_skip.tokenize("risk of disease")


def test_oov_falls_back_to_word_pieces(tok: Tokenizer) -> None:
    ids = tok.tokenize("unaffableness")
    pieces = {v: k for k, v in tok._pieces.items()}
    parts = [pieces[i] for i in ids]
    assert len(parts) > 1 and parts[0].isalpha()
    assert all(p.startswith("##") for p in parts[1:])
    assert "".join(p.removeprefix("##") for p in parts) == "unaffableness"
    assert tok.tokenize("zebrafish") == [tok._words["zebrafish"]]
    assert tok.tokenize("\u4e00\u9fff\u0fff") != []  # never empty for real characters


def test_normalisation_case_and_accents(tok: Tokenizer) -> None:
    assert tok.tokenize("CAFÉ Naïve") == tok.tokenize("cafe naive")
    assert tok.tokenize("Heart   ATTACK") == tok.tokenize("heart attack")


def test_cap_at_512_tokens(tok: Tokenizer) -> None:
    ids = tok.tokenize("word " * 2000)
    assert len(ids) == MAX_TOKENS
    small = Tokenizer(["pad", "word"], ["", "a"], max_tokens=5)
    assert len(small.tokenize("a a a a a a a a")) == 5
    with pytest.raises(InvalidParameterError):
        Tokenizer(["pad"], [""], max_tokens=513)


def test_encode_batch_pads_with_zero(tok: Tokenizer) -> None:
    m = tok.encode_batch(["heart attack", "the cat sat on the mat", ""])
    assert m.dtype == np.int64 and m.shape[0] == 3
    assert (m[2] == 0).all() and (m[0, 2:] == 0).all() and (m[1] > 0).all()
    assert tok.encode_batch([]).shape == (0, 1)
    with pytest.raises(InvalidInputError):
        tok.encode_batch("a string")
    with pytest.raises(InvalidInputError):
        tok.tokenize(3)  # type: ignore[arg-type]


def test_tokens_per_second_is_measured(
    tok: Tokenizer, train_pairs: tuple[list[str], np.ndarray]
) -> None:
    texts = train_pairs[0] * 5
    t0 = time.perf_counter()
    n = sum(len(tok.tokenize(t)) for t in texts)
    rate = n / (time.perf_counter() - t0)
    print(f"tokeniser: {n} tokens, {rate:,.0f} tokens/s")
    assert n > len(texts)
