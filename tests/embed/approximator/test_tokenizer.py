from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.embed.approximator.tokenizer import MAX_TOKENS, Tokenizer
from lance_spiral.errors import InvalidInputError, InvalidParameterError


@pytest.fixture(scope="module")
def tok(pieces: list[str]) -> Tokenizer:
    from lance_spiral.train.mining import Vocabulary

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


def test_teacher_window_counts_word_pieces(tok: Tokenizer, pieces: list[str]) -> None:
    from lance_spiral.embed.approximator.text import words
    from lance_spiral.train.mining import Vocabulary

    kinds, texts = Vocabulary.entry_list(pieces, [("ngram", "new york")])
    cut = Tokenizer(kinds, texts, window=5)
    w = words("the cat sat on the mat today")
    assert cut.window_words(w) == 5 and tok.window_words(w) == len(w)
    assert cut.tokenize("the cat sat on the mat today") == tok.tokenize("the cat sat on the")
    # "unaffableness" is several pieces: it alone eats most of the budget.
    n = len(tok.tokenize("unaffableness"))
    assert 1 < n <= 5
    assert cut.window_words(words("unaffableness a b c d e f")) == 1 + 5 - n
    # An n-gram straddling the cut is not matched across it.
    assert cut.tokenize("a b c d new york") == tok.tokenize("a b c d new")
    with pytest.raises(InvalidParameterError, match="window"):
        Tokenizer(kinds, texts, window=0)
    with pytest.raises(InvalidParameterError, match="window"):
        Tokenizer(kinds, texts, window=True)  # type: ignore[arg-type]


def test_teacher_window_matches_the_teacher_truncation(
    pieces: list[str], teacher_dir: Path, shared_data: Path
) -> None:
    """On real long abstracts, the cut lands within two words of where the teacher stops."""
    transformers = pytest.importorskip("transformers")
    from lance_spiral.embed.approximator.text import words
    from lance_spiral.train.mining import Vocabulary
    from lance_spiral.train.teacher import teacher_window

    hf = transformers.AutoTokenizer.from_pretrained(str(teacher_dir))
    window = teacher_window(teacher_dir)
    assert window == 254
    cut = Tokenizer(*Vocabulary.entry_list(pieces, []), window=window)
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text().splitlines()[:200]
    gaps = []
    for line in lines:
        rec = json.loads(line)
        text = f"{rec['title']} {rec['text']}"
        offsets = hf(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(offsets) <= window:
            assert cut.window_words(words(text)) == len(words(text))
            continue
        kept = text[: offsets[window - 1][1]]
        gaps.append(len(words(kept)) - cut.window_words(words(text)))
    assert len(gaps) > 100
    assert max(gaps) <= 2 and min(gaps) >= 0 and np.mean(np.array(gaps) == 0) > 0.7


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
