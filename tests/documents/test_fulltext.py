"""Fusion of vector and full-text result lists (reciprocal rank, or linear with alpha)."""

from __future__ import annotations

import pytest

from lance_spiral.documents import fuse
from lance_spiral.documents.fulltext import RRF_K
from lance_spiral.errors import InvalidParameterError

VEC = [{"id": "a", "_score": 0.9}, {"id": "b", "_score": 0.8}, {"id": "c", "_score": 0.1}]
TXT = [{"id": "c", "_score": 7.0}, {"id": "d", "_score": 3.0}, {"id": "a", "_score": 1.0}]


def test_reciprocal_rank_fusion() -> None:
    out = fuse(VEC, TXT, 4)
    score = {r["id"]: r["_score"] for r in out}
    assert score["a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 3))
    assert score["c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert score["b"] == pytest.approx(1 / (RRF_K + 2))
    assert [r["id"] for r in out][:2] == ["a", "c"] and len(out) == 4
    assert out[0]["_vector_score"] == 0.9 and out[0]["_text_score"] == 1.0
    assert {r["id"]: r["_text_score"] for r in out}["b"] is None


def test_linear_fusion_with_alpha() -> None:
    assert [r["id"] for r in fuse(VEC, TXT, 3, alpha=1.0)] == ["a", "b", "c"]
    assert [r["id"] for r in fuse(VEC, TXT, 2, alpha=0.0)] == ["c", "d"]
    mid = {r["id"]: r["_score"] for r in fuse(VEC, TXT, 4, alpha=0.5)}
    assert mid["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert mid["c"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    for bad in (-0.1, 1.5, True):
        with pytest.raises(InvalidParameterError, match="alpha"):
            fuse(VEC, TXT, 2, alpha=bad)  # type: ignore[arg-type]
    assert fuse([], [], 3) == []
