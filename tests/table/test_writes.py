"""Writes on real Lance tables: upsert, delete, update, get, filters, scalar indexes."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.errors import InvalidInputError, TableError
from lance_spiral.table import create_table
from tests.support.tables import rows


@pytest.fixture()
def table(tmp_path, docs):
    return create_table(str(tmp_path / "t.lance"), docs, progress=False)


def test_add_appends_with_fitted_codec(table, scifact_corpus_emb):
    v = table.version
    codec_file = table.meta.codec_file
    assert table.add(rows(scifact_corpus_emb[2000:2100], start=2000)) == 100
    assert table.count_rows() == 2100 and table.version == v + 1
    assert table.meta.codec_file == codec_file
    assert table.search(scifact_corpus_emb[2050]).limit(1).to_list()[0]["id"] == "doc2050"


def test_upsert_updates_and_inserts(table, scifact_corpus_emb):
    new = rows(scifact_corpus_emb[2000:2002], start=2000)
    changed = rows(scifact_corpus_emb[3000:3001], start=0)
    changed[0]["title"] = "replaced"
    res = table.upsert(new + changed)
    assert res == {"inserted": 2, "updated": 1}
    assert table.count_rows() == 2002
    got = table.get(["doc0"]).to_pylist()
    assert got[0]["title"] == "replaced"
    hit = table.search(scifact_corpus_emb[3000]).limit(1).to_list()[0]
    assert hit["id"] == "doc0" and hit["_score"] > 0.99


def test_upsert_on_tiny_table(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "t.lance"))
    assert t.upsert(rows(scifact_corpus_emb[:3])) == {"inserted": 3, "updated": 0}
    again = rows(scifact_corpus_emb[:1])
    again[0]["title"] = "new"
    assert t.upsert(again + rows(scifact_corpus_emb[3:4], start=3)) == {
        "inserted": 1, "updated": 1}
    assert t.count_rows() == 4
    assert t.get(["doc0"]).to_pylist()[0]["title"] == "new"


def test_delete_and_delete_ids(table, scifact_corpus_emb):
    assert table.delete({"year": 1990}) == 67
    assert table.count_rows({"year": 1990}) == 0
    assert table.delete_ids(["doc1", "doc2", "no-such-id"]) == 2
    assert table.delete_ids([]) == 0
    assert table.count_rows() == 2000 - 67 - 2
    ids = [r["id"] for r in table.search(scifact_corpus_emb[1]).limit(20).to_list()]
    assert "doc1" not in ids and "doc0" not in ids
    assert table.search(scifact_corpus_emb[5]).limit(1).to_list()[0]["id"] == "doc5"


def test_update_payload(table):
    assert table.update({"year": 1991}, {"title": "it's updated"}) == 67
    assert table.count_rows({"title": "it's updated"}) == 67
    assert table.update(None, {"year": 2001}, sql="year = 1991") == 67
    table.update(None, {"year": 2000})
    assert table.count_rows({"year": 2000}) == 2000
    with pytest.raises(InvalidInputError, match="cannot be updated"):
        table.update(None, {"id": "x"})
    with pytest.raises(InvalidInputError, match="unknown column"):
        table.update(None, {"nope": 1})
    with pytest.raises(InvalidInputError, match="Lance rejected the filter"):
        table.update(None, {"year": 1}, sql="nope >>> 3")
    with pytest.raises(InvalidInputError, match="sql="):
        table.update("year = 1", {"year": 1})


def test_get_order_missing_and_vectors(table, docs):
    got = table.get(["doc9", "missing", "doc3"], with_vectors=True)
    assert got.column("id").to_pylist() == ["doc9", "doc3"]
    vec = np.asarray(got.column("vector").to_pylist(), np.float32)
    ref = docs["vector"][[9, 3]]
    cos = (vec * ref).sum(1) / np.linalg.norm(vec, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999
    assert table.get([]).num_rows == 0


@pytest.mark.parametrize("indexed", [False, True])
def test_filters_with_and_without_scalar_index(table, scifact_corpus_emb, indexed):
    if indexed:
        table.create_scalar_index("year")
        table.create_scalar_index("id")
    q = scifact_corpus_emb[7]
    res = table.search(q).where(sql="year = 1997").limit(5).to_list()
    assert len(res) == 5 and all(r["year"] == 1997 for r in res)
    assert res[0]["id"] == "doc7"
    post = table.search(q).where(sql="year = 1997", prefilter=False).limit(5).to_list()
    assert all(r["year"] == 1997 for r in post) and post[0]["id"] == "doc7"
    assert table.search(q).where(sql="year = 1800").limit(5).to_list() == []
    assert table.get(["doc11"]).to_pylist()[0]["year"] == 2001
    with pytest.raises(InvalidInputError, match="Lance rejected the filter"):
        table.search(q).where(sql="yearr = 3").to_list()


def test_filter_only_query(table):
    out = table.search().where(sql="year = 1995").limit(3).to_list()
    assert len(out) == 3 and all(r["year"] == 1995 for r in out)


def test_index_bad_column(table):
    with pytest.raises(InvalidInputError):
        table.create_scalar_index("vector_codes")
    with pytest.raises(TableError, match="alongside"):
        table.create_vector_index("IVF_PQ")


def test_empty_adds_make_no_commit(table, tmp_path):
    v = table.version
    assert table.add([]) == 0
    assert table.add(iter([])) == 0
    assert table.add({"id": [], "vector": np.zeros((0, 384), np.float32)}) == 0
    assert table.upsert([]) == {"inserted": 0, "updated": 0}
    assert table.version == v and len(table.versions()) == v
    empty = create_table(str(tmp_path / "e.lance"))
    assert empty.add([]) == 0 and empty.version == 1


@pytest.mark.parametrize("op", ["add", "upsert"])
def test_an_id_twice_in_one_write_is_refused(table, tmp_path, scifact_corpus_emb, op):
    batch = rows(scifact_corpus_emb[2000:2003], start=2000)
    batch[2]["id"] = "doc2000"
    small = create_table(str(tmp_path / "s.lance"))
    for t in (table, small):
        v = t.version
        with pytest.raises(InvalidInputError, match="'doc2000' appears 2 times"):
            getattr(t, op)(batch)
        assert t.version == v
    # across batches of one stream too
    stream = iter([rows(scifact_corpus_emb[2000:2002], start=2000),
                   rows(scifact_corpus_emb[2002:2003], start=2000)])
    with pytest.raises(InvalidInputError, match="doc2000"):
        getattr(table, op)(stream)


def test_integer_vectors_are_refused_like_the_codec_api(table):
    from lance_spiral.codecs import make_codec
    from lance_spiral.errors import DTypeError

    ints = np.ones((2, 384), dtype=np.int64)
    with pytest.raises(DTypeError):
        make_codec("sq:bits=8").fit(ints)
    with pytest.raises(DTypeError, match="floating-point"):
        table.add({"id": ["a", "b"], "vector": ints})
    with pytest.raises(DTypeError, match="floating-point"):
        table.add([{"id": "a", "vector": [1] * 384}])
    with pytest.raises(DTypeError):
        table.upsert({"id": ["a", "b"], "vector": ints})


def test_search_never_pads(tmp_path, scifact_corpus_emb):
    t = create_table(str(tmp_path / "few.lance"), rows(scifact_corpus_emb[:3]))
    hits = t.search(scifact_corpus_emb[0]).limit(10).to_list()
    assert [h["id"] for h in hits][:1] == ["doc0"] and len(hits) == 3
    assert all(np.isfinite(h["_score"]) for h in hits)


def test_filters_on_entry_points_are_dicts_or_explicit_sql(table):
    for call in (lambda: table.delete("year = 1990"), lambda: table.count_rows("true"),
                 lambda: table.update("true", {"title": "x"})):
        with pytest.raises(InvalidInputError, match="sql="):
            call()
    with pytest.raises(InvalidInputError, match="sql='true'"):
        table.delete()
    with pytest.raises(InvalidInputError, match="sql='true'"):
        table.delete({})
    with pytest.raises(InvalidInputError, match="silently drop"):
        table.delete(sql="year = 1990; year = 1991")
    with pytest.raises(InvalidInputError, match="not both"):
        table.count_rows({"year": 1}, sql="year = 1")
    with pytest.raises(InvalidInputError, match="internal"):
        table.count_rows({"vector_codes": {"$exists": True}})
    assert table.count_rows({"title": "title 5' OR 1=1 --"}) == 0
    assert table.count_rows() == 2000
    assert table.delete(sql="true") == 2000 and table.count_rows() == 0
