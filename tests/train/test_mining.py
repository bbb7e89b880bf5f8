from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lance_spiral.errors import (
    CorruptDataError,
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
)
from lance_spiral.train.mining import (
    Vocabulary,
    mine_entries,
    read_wordpieces,
    static_entry_embeddings,
)


def test_read_wordpieces_drops_control_tokens(teacher_dir: Path) -> None:
    pieces = read_wordpieces(teacher_dir / "vocab.txt")
    assert "[UNK]" in pieces and "##ing" in pieces and "the" in pieces
    assert not any(p.startswith("[unused") for p in pieces)
    assert "[CLS]" not in pieces and "[PAD]" not in pieces
    with pytest.raises(NotFoundError):
        read_wordpieces(teacher_dir / "missing.txt")


def test_mine_entries_on_real_texts(train_pairs: tuple[list[str], np.ndarray]) -> None:
    texts, _ = train_pairs
    mined = mine_entries(texts, max_entries=200, min_count=2, ngram_frac=0.3, skip_frac=0.1)
    kinds = [k for k, _ in mined]
    assert len(mined) <= 200
    assert {"word", "ngram", "skip"} <= set(kinds)
    assert ("ngram", "relating to") in mined  # a real collocation of WordNet glosses
    skips = [t for k, t in mined if k == "skip"]
    assert all(len(s.split(" ")) == 3 and s.split(" ")[1] == "_" for s in skips)
    with pytest.raises(InvalidParameterError):
        mine_entries(texts, ngram_frac=0.8, skip_frac=0.5)


def test_entry_list_dedupes_and_keeps_pieces(pieces: list[str]) -> None:
    kinds, texts = Vocabulary.entry_list(
        pieces, [("word", "the"), ("word", "zzyzx"), ("ngram", "of the")]
    )
    assert kinds[0] == "pad" and texts[0] == ""
    assert texts.count("the") == 1  # "the" is already a whole-word piece
    assert "zzyzx" in texts and "of the" in texts
    assert len(texts) == len(pieces) + 3


def test_build_with_real_teacher_resumes_from_shards(tmp_path: Path) -> None:
    from lance_spiral.train.teacher import Teacher

    teacher = Teacher(batch_size=32)
    kinds = ["pad", "word", "word", "word", "skip", "piece"]
    texts = ["", "dog", "puppy", "carburetor", "heart _ attack", "##ing"]
    calls: list[int] = []

    def embed(batch: list[str]) -> np.ndarray:
        calls.append(len(batch))
        return teacher.embed(batch)

    v = Vocabulary.build(
        kinds, texts, embed, shard_dir=tmp_path / "shards", shard_size=2, progress=False
    )
    assert calls == [2, 2, 1]
    e = v.embeddings
    assert np.allclose(e[0], 0) and np.allclose(np.linalg.norm(e[1:], axis=1), 1, atol=1e-4)
    assert e[1] @ e[2] > e[1] @ e[3] + 0.1  # dog ~ puppy, not carburetor

    def broken(batch: list[str]) -> np.ndarray:
        raise AssertionError("all shards exist; nothing should be embedded again")

    again = Vocabulary.build(
        kinds, texts, broken, shard_dir=tmp_path / "shards", shard_size=2, progress=False
    )
    assert np.array_equal(again.embeddings, e)
    np.save(tmp_path / "shards" / "shard_00002.npy", np.zeros((3, 384), np.float32))
    with pytest.raises(CorruptDataError):
        Vocabulary.build(
            kinds, texts, broken, shard_dir=tmp_path / "shards", shard_size=2, progress=False
        )


def test_save_load_roundtrip_without_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((4, 8)).astype(np.float32)
    emb[0] = 0
    v = Vocabulary(["pad", "piece", "word", "ngram"], ["", "##s", "cat", "black cat"], emb)
    v.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings.safetensors", "entries.json"]
    w = Vocabulary.load(tmp_path)
    assert w.texts == v.texts and w.kinds == v.kinds and w.dim == 8
    assert np.allclose(w.embeddings, emb, atol=1e-2)
    with pytest.raises(NotFoundError):
        Vocabulary.load(tmp_path / "nope")
    with pytest.raises(InvalidInputError):
        Vocabulary(["word"], ["cat"], emb[:1])


def test_static_entry_embeddings(teacher_dir: Path) -> None:
    kinds = ["pad", "piece", "word", "ngram"]
    texts = ["", "dog", "dogs", "hot dog"]
    e = static_entry_embeddings(kinds, texts, teacher_dir)
    assert e.shape == (4, 384) and np.allclose(e[0], 0)
    assert np.all(np.linalg.norm(e[1:], axis=1) > 0)
