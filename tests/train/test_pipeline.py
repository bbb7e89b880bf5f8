from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from lance_spiral.embed.approximator import Approximator
from lance_spiral.errors import InvalidInputError, NotFoundError
from lance_spiral.train.corpus import load_corpus, passage_crops, passage_mixes, passage_spans
from lance_spiral.train.distill import TrainConfig
from lance_spiral.train.pipeline import distill_approximator, reexport
from lance_spiral.train.student import StudentConfig


def test_distill_from_text_file_then_reexport(tmp_path: Path, train_pairs, heldout_pairs) -> None:
    texts, emb = train_pairs
    corpus = tmp_path / "mine.txt"
    corpus.write_text("\n".join(texts) + "\n")
    np.save(tmp_path / "mine.npy", emb)
    assert load_corpus(corpus)[1] is not None
    out = tmp_path / "model"
    summary = distill_approximator(
        [corpus],
        out,
        vocab_size=300,
        min_count=2,
        entry_init="static",
        model_config=StudentConfig(hidden=64, phi_hidden=128, rho_hidden=128, heads=2),
        train_config=TrainConfig(
            epochs=15, batch_size=64, lr=3e-3, seed=0, threads=1, val_frac=0.05
        ),
        progress=False,
    )
    assert summary["n_texts"] == len(texts) and summary["best_val_cosine"] > 0.25
    assert summary["window"] == 254  # the real teacher's max_seq_length minus [CLS]/[SEP]
    saved = json.loads((out / "train" / "summary.json").read_text())
    assert set(saved["timings_s"]) == {"load", "targets", "vocabulary", "train", "export"}
    h_texts, h_emb = heldout_pairs
    first = Approximator.load(out).embed(h_texts)
    assert (first * h_emb).sum(1).mean() > 0.25
    reexport(out, quantize=True)
    assert np.allclose(Approximator.load(out).embed(h_texts), first, atol=1e-4)
    assert Approximator.load(out).tokenizer.window == 254
    assert Approximator.load(out, quantized=True).embed(h_texts[:3]).shape == (3, 384)


def test_pipeline_input_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_corpus(tmp_path / "missing.jsonl")
    with pytest.raises(InvalidInputError):
        distill_approximator([], tmp_path / "x", entry_init="static", progress=False)
    with pytest.raises(InvalidInputError):
        distill_approximator([], tmp_path / "x", entry_init="magic", progress=False)
    with pytest.raises(InvalidInputError, match="crops"):
        distill_approximator([], tmp_path / "x", crops=-1, progress=False)
    with pytest.raises(InvalidInputError, match="mixes"):
        distill_approximator([], tmp_path / "x", mixes=-1, progress=False)
    with pytest.raises(InvalidInputError, match="spans"):
        distill_approximator([], tmp_path / "x", spans=-2, progress=False)
    with pytest.raises(InvalidInputError, match="teacher_threads"):
        distill_approximator([], tmp_path / "x", teacher_threads=0, progress=False)
    with pytest.raises(InvalidInputError, match="teacher_precision"):
        distill_approximator([], tmp_path / "x", teacher_precision="half", progress=False)
    with pytest.raises(NotFoundError, match="corpus"):
        distill_approximator([tmp_path / "missing.jsonl"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # bad input leaves nothing behind
    with pytest.raises(NotFoundError):
        reexport(tmp_path)
    (tmp_path / "bad.txt").write_text("a\nb\n")
    np.save(tmp_path / "bad.npy", np.zeros((3, 4), np.float32))
    with pytest.raises(InvalidInputError):
        load_corpus(tmp_path / "bad.txt")


def test_passage_crops_cut_sentences_and_windows() -> None:
    doc = (
        "Alpha beta gamma delta epsilon zeta. Second sentence has six words here. "
        "Short one. Fourth sentence also has enough words in it. Fifth and final sentence "
        "closes the abstract now."
    )
    crops = passage_crops([doc, "One sentence only, nothing to cut."], max_crops=100)
    assert "Second sentence has six words here." in crops
    assert "Short one." not in crops  # below min_words
    assert (
        "Alpha beta gamma delta epsilon zeta. Second sentence has six words here. Short one."
        in crops
    )  # a 3-sentence window
    assert all("nothing to cut" not in c for c in crops)
    assert len(set(crops)) == len(crops)
    few = passage_crops([doc], max_crops=2, seed=1)
    assert len(few) == 2 and set(few) <= set(crops)
    assert few == passage_crops([doc], max_crops=2, seed=1)
    assert passage_crops([doc], max_crops=0) == []


def _topic_docs(topic: str, n: int) -> list[str]:
    return [
        " ".join(f"Doc {d} of {topic} says {topic} fact number {s} today." for s in range(4))
        for d in range(n)
    ]


def test_passage_mixes_recombine_sentences_of_neighbouring_documents() -> None:
    docs = _topic_docs("alpha", 5) + _topic_docs("beta", 5) + ["One sentence only, too short."]
    emb = np.zeros((len(docs), 3), np.float32)
    emb[:5, 0] = 1.0
    emb[5:10, 1] = 1.0
    emb[10, 2] = 1.0
    mixes = passage_mixes(docs, emb, n=40, partners=2, neighbours=4, words=30, seed=3)
    assert len(mixes) == 40 and len(set(mixes)) == 40
    sentences = {s + "." for d in docs[:10] for s in d.rstrip(".").split(". ")}
    for mix in mixes:
        assert ("alpha" in mix) != ("beta" in mix)  # partners come from the nearest documents
        assert "too short" not in mix
        assert len(mix.split()) >= 30
        assert {s + "." for s in mix.rstrip(".").split(". ")} <= sentences
    assert any(len(set(re.findall(r"Doc (\d)", m))) > 1 for m in mixes)  # not one document
    assert mixes == passage_mixes(docs, emb, n=40, partners=2, neighbours=4, words=30, seed=3)
    # Without embeddings the partners are random documents: both topics meet in some mix.
    anywhere = passage_mixes(docs, None, n=40, partners=2, words=30, seed=3)
    assert any("alpha" in m and "beta" in m for m in anywhere)
    assert passage_mixes(docs, emb, n=0) == []
    assert passage_mixes(docs[:2], None, n=5) == []  # too few documents to mix
    with pytest.raises(InvalidInputError, match="non-negative"):
        passage_mixes(docs, emb, n=-1)
    with pytest.raises(InvalidInputError, match="embeddings"):
        passage_mixes(docs, emb[:3], n=2)
    with pytest.raises(InvalidInputError, match="neighbours"):
        passage_mixes(docs, emb, n=2, neighbours=0)
    # No partners: each mix reshuffles one document's sentences.
    alone = passage_mixes(docs, emb, n=5, partners=0, words=30)
    assert all(len(set(re.findall(r"Doc (\d)", m))) == 1 for m in alone)


def test_passage_spans_cut_query_sized_runs_of_words() -> None:
    docs = [*_topic_docs("alpha", 3), "One sentence only, with plenty of words to cut from it."]
    sentences = [s.rstrip(".").split() for d in docs[:3] for s in d.split(". ")]
    spans = passage_spans(docs, n=50, min_words=3, max_words=6, seed=2)
    assert len(spans) == 50 and len(set(spans)) == 50
    for span in spans:
        words = span.split()
        assert 3 <= len(words) <= 6 and not span.endswith(".")
        # Consecutive words of one sentence of a long (3+ sentence) document.
        n = len(words)
        assert any(words == s[i : i + n] for s in sentences for i in range(len(s) - n + 1))
        assert "plenty" not in span
    assert spans == passage_spans(docs, n=50, min_words=3, max_words=6, seed=2)
    assert passage_spans(docs, n=0) == []
    assert passage_spans(docs[3:], n=5) == []  # no long text to cut from
    # More spans asked than exist: each distinct one once, then it stops.
    few = passage_spans(["A b c d. E f g h. I j k l."], n=100, min_words=4, max_words=4)
    assert sorted(few) == ["A b c d", "E f g h", "I j k l"]
    with pytest.raises(InvalidInputError, match="non-negative"):
        passage_spans(docs, n=-1)
    with pytest.raises(InvalidInputError, match="min_words"):
        passage_spans(docs, n=3, min_words=8, max_words=4)
