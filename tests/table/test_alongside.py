"""Alongside mode: float column + Lance vector index for candidates, codes re-rank."""

from __future__ import annotations

import lancedb
import numpy as np
import pytest

from lance_spiral.table import create_table
from tests.support.tables import exact_top, rows


@pytest.fixture(scope="module")
def along(tmp_path_factory, scifact_corpus_emb):
    x = scifact_corpus_emb[:3000]
    data = {"id": [f"doc{i}" for i in range(len(x))], "vector": x,
            "year": np.arange(len(x)) % 30 + 1990, "title": [f"t{i}" for i in range(len(x))]}
    return create_table(str(tmp_path_factory.mktemp("a") / "docs.lance"), data, mode="alongside",
                        progress=False)


def test_alongside_search_with_and_without_index(along, scifact_corpus_emb, scifact_query_emb):
    x = scifact_corpus_emb[:3000]
    q = scifact_query_emb[:50]
    gt = exact_top(q, x, 10)

    def recall(**kw):
        res = along.search(q).limit(10)
        if "rerank" in kw:
            res = res.rerank(kw["rerank"]).nprobes(kw["nprobes"])
        tbl = res.to_arrow()
        qi = tbl.column("_query_index").to_numpy()
        ids = np.array([int(s[3:]) for s in tbl.column("id").to_pylist()])
        return np.mean([len(set(ids[qi == i]) & set(gt[i])) / 10 for i in range(len(q))])

    assert recall() >= 0.97
    along.create_vector_index("IVF_PQ", num_partitions=8, num_sub_vectors=48)
    assert along.has_vector_index()
    assert recall(rerank=100, nprobes=8) >= 0.95
    shallow = recall(rerank=10, nprobes=1)
    assert shallow < recall(rerank=100, nprobes=8)
    exact = along.search(q[:20]).limit(10).rerank(100).nprobes(8).exact_rerank(20).to_arrow()
    qi = exact.column("_query_index").to_numpy()
    ids = np.array([int(s[3:]) for s in exact.column("id").to_pylist()])
    assert np.mean([len(set(ids[qi == i]) & set(gt[i])) / 10 for i in range(20)]) >= 0.97
    best = exact.column("_score").to_numpy()[qi == 0][0]
    xn = x[ids[qi == 0][0]] / np.linalg.norm(x[ids[qi == 0][0]])
    assert abs(best - float(xn @ (q[0] / np.linalg.norm(q[0])))) < 1e-5
    res = along.search(q[0]).where({"year": 1995}).limit(5).rerank(50).nprobes(8).to_list()
    assert res and all(r["year"] == 1995 for r in res)
    db = lancedb.connect(str(along.uri).rsplit("/", 1)[0])
    native = db.open_table("docs").search(q[0]).limit(3).to_list()
    assert len(native) == 3


def test_alongside_tiny_and_get(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"), mode="alongside")
    t.add(rows(scifact_corpus_emb[:3]))
    assert t.search(scifact_corpus_emb[2]).limit(1).to_list()[0]["id"] == "doc2"
    got = t.get(["doc1"], with_vectors=True).to_pylist()[0]
    assert np.allclose(got["vector"], scifact_corpus_emb[1])
