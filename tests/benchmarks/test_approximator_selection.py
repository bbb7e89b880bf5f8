"""benchmarks/approximator_selection.py: the build-selection checks run on a real model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def script(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("approximator_selection")


def test_selection_script_compares_builds(
    script: ModuleType, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sel.json"
    rows = script.main(
        [str(tiny_model_dir), str(tiny_model_dir), "--long-texts", "6", "--out", str(out)]
    )
    assert json.loads(out.read_text())["rows"] == rows and len(rows) == 2
    first, second = rows
    for row in rows:
        # The tiny model is trained for seconds, but it is in the teacher's space.
        assert 0.2 < row["wordnet_query_cosine"] <= 1 and 0.2 < row["long_text_cosine"] <= 1
    assert "vs_first" not in first
    assert second["vs_first"]["wordnet_query"]["mean_diff"] == 0
    assert second["wordnet_query_cosine"] == first["wordnet_query_cosine"]


def test_holdout_corpus_and_holdout_checks(
    script: ModuleType, tiny_model_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    import numpy as np

    from lance_spiral.train.corpus import in_heldout, load_corpus

    corpus = tmp_path / "a1"
    assert script.main(["--write-holdout-corpus", str(corpus)]) == []
    texts, emb = load_corpus(corpus / "corpus.jsonl")
    all_a, all_emb = load_corpus(shared_data / "scifact" / "corpus.jsonl")
    ids = [str(json.loads(x)["id"]) for x in (corpus / "corpus.jsonl").read_text().splitlines()]
    # Split A minus a fifth: nothing from B, nothing from the held-out fifth, embeddings aligned.
    assert not any(in_heldout(i) for i in ids)
    assert not any(in_heldout("proxy:" + i, 0.2) for i in ids)
    assert 0.7 * len(all_a) < len(texts) < 0.9 * len(all_a)
    assert emb is not None and all_emb is not None
    assert np.array_equal(emb, all_emb[[all_a.index(t) for t in texts]])
    # Train queries minus their own fifth, embeddings aligned; no test query.
    def records(path: Path) -> list[dict[str, object]]:
        return [json.loads(x) for x in path.read_text().splitlines()]

    q_recs = records(corpus / "queries.jsonl")
    all_q = records(shared_data / "scifact" / "queries.jsonl")
    n_train = sum(r["split"] == "train" for r in all_q)
    assert all(r["split"] == "train" for r in q_recs)
    assert 0.7 * n_train < len(q_recs) < 0.9 * n_train
    assert not any(in_heldout("proxyq:" + str(r["id"]), 0.2) for r in q_recs)
    rows_of = {r["id"]: i for i, r in enumerate(all_q)}
    q_emb = np.load(shared_data / "scifact" / "query_emb.npy")[[rows_of[r["id"]] for r in q_recs]]
    assert np.array_equal(np.load(corpus / "query_emb.npy"), q_emb)
    out = tmp_path / "sel.json"
    args = [str(tiny_model_dir), str(tiny_model_dir), "--holdout", "--long-texts", "4"]
    rows = script.main([*args, "--out", str(out)])
    for row in rows:
        assert 0.2 < row["holdout_doc_cosine"] <= 1 and 0 < row["holdout_spearman"] <= 1
        assert 0.2 < row["trained_doc_cosine"] <= 1 and 0.5 < row["holdout_tokens_seen"] <= 1
        assert -1 <= row["holdout_cosine_vs_seen_corr"] <= 1
        assert 0.2 < row["holdout_query_cosine"] <= 1 and 0 < row["holdout_query_doc_spearman"] <= 1
    assert rows[1]["vs_first"]["holdout_doc"]["mean_diff"] == 0
    assert rows[1]["vs_first"]["holdout_query"]["mean_diff"] == 0
