"""Sharded search on Ray actors: the merged global top-k equals the unsharded table's."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.distributed import open_sharded
from lance_spiral.distributed.shard import assign_fragments
from lance_spiral.errors import InvalidInputError, InvalidParameterError
from lance_spiral.table import create_table, open_table
from tests.support.s3 import s3, s3_server  # noqa: F401  (fixtures)
from tests.support.tables import exact_top

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _data(x: np.ndarray, start: int = 0) -> dict:
    ids = np.arange(start, start + len(x))
    return {"id": ids, "vector": x, "year": 1990 + ids % 30,
            "title": [f"title {i}" for i in ids]}


def _hits(res) -> list[list[tuple[int, float]]]:
    qi = res.column("_query_index").to_numpy()
    ids, sc = res.column("id").to_numpy(), res.column("_score").to_numpy()
    return [sorted(zip(ids[qi == i].tolist(), np.round(sc[qi == i], 5).tolist(), strict=True))
            for i in range(int(qi.max()) + 1)]


def test_sharded_equals_unsharded(s3, scifact_corpus_emb, scifact_query_emb):  # noqa: F811
    prefix, opts = s3  # the table lives on the moto S3 server on 127.0.0.1
    x = scifact_corpus_emb[:5000]
    uri = f"{prefix}/t.lance"
    t = create_table(uri, _data(x[:2000]), progress=False, storage_options=opts)
    for s in range(2000, 4000, 1000):  # more fragments, one per add
        t.add(_data(x[s:s + 1000], start=s))
    q = scifact_query_emb[:200]
    st = open_sharded(uri, shards=2, storage_options=opts)
    try:
        assert opts["aws_secret_access_key"] not in repr(st)
        stats = st.shard_stats()
        assert [s["rows"] for s in stats] == [2000, 2000] and len(st) == 4000
        for filt in (None, {"year": {"$gte": 2005}}, {"title": {"$like": "title 1%"}}):
            mine = st.search(q).limit(10)
            ref = t.search(q).limit(10)
            if filt is not None:
                mine, ref = mine.where(filt), ref.where(filt)
            assert _hits(mine.to_arrow()) == _hits(ref.to_arrow()), filt
        one = st.search(q[0]).where(sql="year < 1995").limit(5).select(["title"]).to_list()
        assert [r["id"] for r in one] == [r["id"] for r in t.search(q[0]).where(
            sql="year < 1995").limit(5).to_list()]
        assert set(one[0]) == {"id", "title", "_score"}
        assert st.count_rows({"year": 1990}) == t.count_rows({"year": 1990})
        # versions: a new fragment joins a shard after refresh(); a pinned version stays put
        t.add(_data(x[4000:5000], start=4000))
        assert st.version == 3 and len(st) == 4000
        st.refresh()
        assert st.version == 4 and len(st) == 5000
        assert _hits(st.search(q[:50]).limit(10).to_arrow()) == \
            _hits(t.search(q[:50]).limit(10).to_arrow())
        with pytest.raises(InvalidInputError):
            st.search(q[0]).where("year > 3")  # a bare string: sql= is explicit
    finally:
        st.close()
    old = open_sharded(uri, shards=2, version=2, storage_options=opts)
    try:
        assert old.version == 2 and len(old) == 3000
        ref = open_table(uri, version=2, storage_options=opts).search(q[:20]).limit(10) \
            .to_arrow()
        assert _hits(old.search(q[:20]).limit(10).to_arrow()) == _hits(ref)
    finally:
        old.close()


def test_several_tables_and_a_large_table(tmp_path, wordnet_sample, wordnet_queries):
    x = wordnet_sample
    q = wordnet_queries[:100]
    uri = str(tmp_path / "w.lance")
    t = create_table(uri, _data(x[:10000]), progress=False)
    t.add(_data(x[10000:20000], start=10000))
    truth = exact_top(q, x, 10)
    st = open_sharded(uri, shards=2, memory="disk")
    try:
        got = st.search(q).limit(10).to_arrow()
        qi, ids = got.column("_query_index").to_numpy(), got.column("id").to_numpy()
        rec = np.mean([len(set(ids[qi == i]) & set(truth[i])) / 10 for i in range(len(q))])
        ref = t.search(q).limit(10).to_arrow()
        rqi, rids = ref.column("_query_index").to_numpy(), ref.column("id").to_numpy()
        ref_rec = np.mean([len(set(rids[rqi == i]) & set(truth[i])) / 10
                           for i in range(len(q))])
        assert rec >= ref_rec - 0.01 and rec >= 0.95
        assert all(s["resident_bytes"] < 100 * s["rows"] for s in st.shard_stats())
        wide = st.search(q[:20]).limit(10).candidates(4096).rerank(512).to_arrow()
        assert wide.num_rows == 200
    finally:
        st.close()
    # two tables, one shard each: same merge as each table's own top-k
    u1, u2 = str(tmp_path / "a.lance"), str(tmp_path / "b.lance")
    a = create_table(u1, _data(x[:3000]), progress=False)
    b = create_table(u2, _data(x[3000:6000], start=3000), progress=False)
    both = open_sharded([u1, u2])
    try:
        got = both.search(q[:30]).limit(10).to_arrow()
        for i in range(30):
            ra, rb = a.search(q[i]).limit(10).to_list(), b.search(q[i]).limit(10).to_list()
            best = sorted(ra + rb, key=lambda r: -r["_score"])[:10]
            sel = got.filter(got.column("_query_index").to_numpy() == i)
            assert sel.column("id").to_pylist() == [r["id"] for r in best]
        assert len(both) == 6000
    finally:
        both.close()


def test_assignment_and_bad_options(tmp_path, scifact_corpus_emb):
    groups = assign_fragments([(0, 100), (1, 50), (2, 50), (3, 10)], 2)
    assert groups == [[0, 3], [1, 2]]  # 100+10 rows against 50+50
    again = assign_fragments([(0, 100), (1, 50), (2, 50), (3, 10), (4, 90)], 2,
                             {0: 0, 1: 1, 2: 1, 3: 1})
    assert again == [[0, 4], [1, 2, 3]]  # kept where they were; the new one to the lighter
    with pytest.raises(InvalidParameterError):
        open_sharded(["a", "b"], shards=3)
    with pytest.raises(InvalidParameterError):
        open_sharded(["a", "b"], version=1)
    with pytest.raises(InvalidParameterError):
        open_sharded(str(tmp_path), shards=0)
    with pytest.raises(InvalidParameterError):
        open_sharded(str(tmp_path), memory="gpu")

