"""Query API: dict filters (pre and post), raw SQL by opt-in, and ``k`` larger than the rows."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.errors import InvalidInputError
from lance_spiral.table import create_table, open_table
from tests.support.tables import rows


@pytest.fixture(scope="module")
def docs_table(tmp_path_factory, docs):
    return create_table(str(tmp_path_factory.mktemp("q") / "docs.lance"), docs, progress=False)


def test_dict_filters_pre_and_post(docs_table, docs, scifact_query_emb):
    t = docs_table
    q = scifact_query_emb[:8]
    flt = {"year": {"$gte": 2010}, "title": {"$like": "title 1%"}}
    res = t.search(q).where(flt).limit(10).to_arrow()
    years = np.asarray(docs["year"])
    ok = {f"doc{i}" for i in range(len(years))
          if years[i] >= 2010 and docs["title"][i].startswith("title 1")}
    assert res.num_rows == 80 and set(res.column("id").to_pylist()) <= ok
    same = t.search(q).where(sql="year >= 2010 AND title LIKE 'title 1%'").limit(10).to_arrow()
    assert same.column("id").to_pylist() == res.column("id").to_pylist()
    post = t.search(q).where({"year": 1995}, prefilter=False).limit(10).to_arrow()
    assert set(post.column("year").to_pylist()) <= {1995}
    pre = t.search(q[0]).where({"year": 1995}).limit(10).to_list()
    assert len(pre) == 10 and all(r["year"] == 1995 for r in pre)
    assert t.search(q).where({"year": 1800}).limit(5).to_list() == []
    hits = t.search().where({"$or": [{"year": 1995}, {"year": 1996}]}).limit(7).to_list()
    assert len(hits) == 7 and {h["year"] for h in hits} <= {1995, 1996}


def test_bad_filters_are_refused(docs_table, scifact_query_emb):
    s = docs_table.search(scifact_query_emb[0])
    with pytest.raises(InvalidInputError, match="sql="):
        s.where("year = 1995")
    with pytest.raises(InvalidInputError, match="sql="):
        s.where("year = 1995; DROP")
    with pytest.raises(InvalidInputError):
        s.where({"year": 1995}, sql="year = 1995")
    with pytest.raises(InvalidInputError):
        s.where()
    with pytest.raises(InvalidInputError, match="nope"):
        s.where({"nope": 1})
    with pytest.raises(InvalidInputError):
        s.where({"year": "1995"})
    with pytest.raises(InvalidInputError):
        s.where({"vector_codes": {"$exists": True}})
    with pytest.raises(InvalidInputError, match=";"):
        s.where(sql="year = 1995; year = 1996")


def _check_short(res, n):
    assert res.num_rows == n
    assert np.isfinite(res.column("_score").to_numpy()).all()
    assert None not in res.column("id").to_pylist()


@pytest.mark.parametrize("memory", ["ram", "disk"])
def test_k_larger_than_the_table(tmp_path, scifact_corpus_emb, memory):
    x = scifact_corpus_emb
    t = create_table(str(tmp_path / "small.lance"), rows(x[:5]), progress=False)
    t = open_table(t.uri, memory=memory)
    _check_short(t.search(x[0]).limit(50).to_arrow(), 5)
    batch = t.search(x[:3]).limit(50).to_arrow()
    _check_short(batch, 15)
    assert np.bincount(batch.column("_query_index").to_numpy()).tolist() == [5, 5, 5]
    _check_short(t.search(x[0]).where({"year": 1991}).limit(50).to_arrow(), 1)
    _check_short(t.search(x[0]).where({"year": 1991}, prefilter=False).limit(50).to_arrow(), 1)
    t.delete({"id": {"$in": ["doc0", "doc1"]}})
    res = t.search(x[0]).limit(50).to_arrow()
    _check_short(res, 3)
    assert "doc0" not in res.column("id").to_pylist()


def test_k_larger_than_the_table_bits_ivf_and_index(tmp_path, wordnet_sample, scifact_corpus_emb):
    x = wordnet_sample[:9000]
    t = create_table(str(tmp_path / "ivf.lance"), {"id": np.arange(len(x)), "vector": x},
                     nlist=8, progress=False)
    keep = list(range(0, 9000, 1000))
    res = t.search(x[:2]).where({"id": {"$in": keep}}).limit(20).rerank(64).to_arrow()
    _check_short(res, 18)
    res = t.search(x[0]).limit(9500).rerank(9500).nprobes(8).to_arrow()
    _check_short(res, 9000)
    a = create_table(str(tmp_path / "al.lance"), rows(scifact_corpus_emb[:300]), mode="alongside",
                     progress=False)
    a.create_vector_index("IVF_FLAT", num_partitions=2)
    _check_short(a.search(scifact_corpus_emb[0]).limit(400).rerank(400).nprobes(2).to_arrow(),
                 300)
