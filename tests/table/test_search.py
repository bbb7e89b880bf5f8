"""Search quality and API on real vectors: batch queries, recall floors, IVF, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.errors import (
    DimensionError,
    InvalidInputError,
    InvalidParameterError,
    NonFiniteError,
)
from lance_spiral.table import create_table
from tests.support.tables import exact_top


def _recall(res, gt, k=10):
    return float(np.mean([len(set(r[:k]) & set(g[:k])) / k for r, g in zip(res, gt, strict=True)]))


@pytest.fixture(scope="module")
def scifact_table(tmp_path_factory, scifact_corpus_emb):
    x = scifact_corpus_emb
    data = {"id": np.arange(len(x)), "vector": x, "part": np.arange(len(x)) % 3}
    return create_table(str(tmp_path_factory.mktemp("s") / "t.lance"), data, progress=False)


def test_recall_floor_scifact_and_batch(scifact_table, scifact_corpus_emb, scifact_query_emb):
    q = scifact_query_emb[:200]
    gt = exact_top(q, scifact_corpus_emb, 10)
    res = scifact_table.search(q).limit(10).to_arrow()
    assert set(res.column_names) == {"id", "part", "_score", "_query_index"}
    qi = res.column("_query_index").to_numpy()
    ids = res.column("id").to_numpy()
    assert np.array_equal(np.bincount(qi), np.full(200, 10))
    got = [ids[qi == i] for i in range(200)]
    assert _recall(got, gt) >= 0.97
    scores = res.column("_score").to_numpy()
    for i in range(3):
        s = scores[qi == i]
        assert np.all(np.diff(s) <= 1e-6)
    single = scifact_table.search(q[5]).limit(10).to_list()
    assert [r["id"] for r in single] == list(got[5])
    df = scifact_table.search(q[5]).limit(4).select(["part"]).to_pandas()
    assert list(df.columns) == ["part", "id", "_score"] and len(df) == 4


def test_prefilter_batch(scifact_table, scifact_corpus_emb, scifact_query_emb):
    q = scifact_query_emb[:20]
    keep = np.where(np.arange(len(scifact_corpus_emb)) % 3 == 1)[0]
    gt = keep[exact_top(q, scifact_corpus_emb[keep], 10)]
    res = scifact_table.search(q).where({"part": 1}).limit(10).to_arrow()
    assert set(res.column("part").to_pylist()) == {1}
    qi, ids = res.column("_query_index").to_numpy(), res.column("id").to_numpy()
    assert _recall([ids[qi == i] for i in range(20)], gt) >= 0.97


def test_with_vectors_and_metric(scifact_table, scifact_corpus_emb):
    res = scifact_table.search(scifact_corpus_emb[3]).limit(1).with_vectors().to_list()[0]
    v = np.asarray(res["vector"], np.float32)
    ref = scifact_corpus_emb[3] / np.linalg.norm(scifact_corpus_emb[3])
    assert float(v @ ref) > 0.999
    assert scifact_table.search(ref).metric("cosine").limit(1).to_list()[0]["id"] == 3
    with pytest.raises(InvalidParameterError, match="encoded for metric"):
        scifact_table.search(ref).metric("l2")


def test_bad_queries(scifact_table, scifact_corpus_emb):
    t = scifact_table
    with pytest.raises(DimensionError):
        t.search(np.ones(10, np.float32)).to_list()
    with pytest.raises(NonFiniteError):
        t.search(np.full(384, np.nan, np.float32)).to_list()
    with pytest.raises(InvalidParameterError):
        t.search(scifact_corpus_emb[0]).limit(0)
    with pytest.raises(InvalidParameterError):
        t.search(scifact_corpus_emb[0]).nprobes(-1)
    with pytest.raises(InvalidInputError, match="sql="):
        t.search(scifact_corpus_emb[0]).where("part = 1")
    with pytest.raises(InvalidInputError):
        t.search(scifact_corpus_emb[0]).where()
    with pytest.raises(InvalidInputError, match="unknown columns"):
        t.search(scifact_corpus_emb[0]).select(["nope"])
    with pytest.raises(InvalidInputError, match="Lance rejected"):
        t.search(scifact_corpus_emb[0]).where(sql="part === 'x'").to_list()


@pytest.fixture(scope="module")
def wordnet_tables(tmp_path_factory, wordnet_sample):
    root = tmp_path_factory.mktemp("w")
    data = {"id": np.arange(len(wordnet_sample)), "vector": wordnet_sample}
    flat = create_table(str(root / "flat.lance"), data, progress=False)
    ivf = create_table(str(root / "ivf.lance"), data, progress=False, nlist=32)
    return flat, ivf


def _search_ids(t, q, **kw):
    out = []
    for row in q:
        qq = t.search(row).limit(10)
        if "rerank" in kw:
            qq = qq.rerank(kw["rerank"])
        if "nprobes" in kw:
            qq = qq.nprobes(kw["nprobes"])
        out.append(qq.to_arrow().column("id").to_numpy())
    return out


def test_bit_candidates_then_codec_rerank(wordnet_tables, wordnet_sample, wordnet_queries):
    flat, _ = wordnet_tables
    q = wordnet_queries[:100]
    gt = exact_top(q, wordnet_sample, 10)
    assert flat.hot_state().bits is not None
    assert _recall(_search_ids(flat, q, rerank=1000), gt) >= 0.97
    assert _recall(_search_ids(flat, q), gt) >= 0.95
    shallow = _recall(_search_ids(flat, q, rerank=20), gt)
    assert shallow < 0.95


def test_ivf_partitions(wordnet_tables, wordnet_sample, wordnet_queries):
    _, ivf = wordnet_tables
    st = ivf.hot_state()
    assert st.centroids is not None and len(st.centroids) == 32
    parts = ivf.dataset.to_table(columns=["vector_partition"]).column(0).to_numpy()
    assert np.all(np.diff(parts) >= 0)
    q = wordnet_queries[:100]
    gt = exact_top(q, wordnet_sample, 10)
    full = _recall(_search_ids(ivf, q, rerank=1000, nprobes=32), gt)
    few = _recall(_search_ids(ivf, q, rerank=1000, nprobes=4), gt)
    assert full >= 0.97
    assert 0.5 < few < full
    auto = _recall(_search_ids(ivf, q), gt)
    tuned = [v.nprobes for key, v in st.tuned.items() if key[0] == "auto"]
    assert tuned and 1 <= tuned[0] <= 32
    assert auto >= 0.93
