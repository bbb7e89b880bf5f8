"""Auto-tuner: the chosen codec meets the recall target on queries it did not see."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.codecs import TunerResult, choose_codec
from lance_spiral.codecs.metrics import exact_topk, recall_at
from lance_spiral.codecs.tuner import default_candidates
from lance_spiral.errors import InvalidParameterError

CANDIDATES = ["pq:m=24,bits=8,n_iter=6", "pq:m=48,bits=8,n_iter=6",
              "spiral:n_subspaces=96,n_iter=6", "sq:bits=4", "sq:bits=8"]


@pytest.mark.parametrize("target", [0.90, 0.95])
def test_target_met_on_unseen_queries(target: float, scifact_corpus_emb: np.ndarray,
                                      scifact_query_emb: np.ndarray) -> None:
    x = scifact_corpus_emb
    res = choose_codec(x, target_recall=target, metric="cosine", candidates=CANDIDATES)
    assert isinstance(res, TunerResult) and res.met
    assert res.recall >= target
    tried = [r for r in res.table if r["bytes_per_vector"] is not None]
    # Cheaper candidates that were tried all missed the target.
    assert all(not r["met"] for r in tried if r["bytes_per_vector"] < res.bytes_per_vector)
    # Unseen queries: the real SciFact claims, never shown to the tuner.
    q = scifact_query_emb
    truth = exact_topk(x, q, 10, metric="cosine")
    _, found = res.codec.search(q, res.codec.encode(x), 10)
    assert recall_at(found, truth) >= target


def test_reports_unmet_target(scifact_corpus_emb: np.ndarray) -> None:
    res = choose_codec(scifact_corpus_emb[:1000], target_recall=1.0, metric="ip",
                       candidates=["pq:m=8,bits=4"])
    assert not res.met and res.spec.startswith("pq:") and len(res.table) == 1


def test_given_queries_and_failed_candidates(scifact_corpus_emb: np.ndarray,
                                            scifact_query_emb: np.ndarray) -> None:
    res = choose_codec(scifact_corpus_emb[:200], target_recall=0.5, metric="ip",
                       candidates=["pq:m=8,bits=8", "sq:bits=8"],
                       queries=scifact_query_emb[:50])
    errors = [r for r in res.table if r["error"]]
    assert errors and "too few training vectors" in errors[0]["error"]
    assert res.spec.startswith("sq:")


def test_default_candidates_any_dim() -> None:
    assert all(":" in s for s in default_candidates(7))
    assert any(s.startswith("spiral") for s in default_candidates(384))


def test_bad_input(scifact_corpus_emb: np.ndarray) -> None:
    with pytest.raises(InvalidParameterError, match="target_recall"):
        choose_codec(scifact_corpus_emb, target_recall=1.5)
    with pytest.raises(InvalidParameterError, match="shift_margin"):
        choose_codec(scifact_corpus_emb, shift_margin=0)
    with pytest.raises(InvalidParameterError, match="300"):
        choose_codec(scifact_corpus_emb[:100])
    with pytest.raises(InvalidParameterError, match="empty"):
        choose_codec(scifact_corpus_emb, candidates=[])
    with pytest.raises(InvalidParameterError, match="bad candidate"):
        choose_codec(scifact_corpus_emb, candidates=["nope"])
