"""Bounded resident memory (issue 20 item 3): the ``disk`` mode keeps only candidate codes in
RAM, reads re-rank codes with Lance ``take`` or through a local disk cache, and answers like the
``ram`` mode."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lance_spiral.errors import InvalidParameterError
from lance_spiral.table import create_table, open_table
from tests.support.s3 import s3, s3_server  # noqa: F401  (fixtures)
from tests.support.tables import exact_top, rows

N = 10000


@pytest.fixture(scope="module")
def table_uri(tmp_path_factory, wordnet_sample):
    path = tmp_path_factory.mktemp("mem") / "m.lance"
    data = {"id": np.arange(N), "vector": wordnet_sample[:N], "title": [f"t{i}" for i in range(N)]}
    create_table(str(path), data, progress=False)
    return str(path)


def _ids(t, q, **kw):
    s = t.search(q).limit(10).select([])
    for name, val in kw.items():
        s = getattr(s, name)(val)
    res = s.to_arrow()
    qi = res.column("_query_index").to_numpy()
    ids = res.column("id").to_numpy()
    return [ids[qi == i] for i in range(len(q))], res.column("_score").to_numpy()


def test_resident_bytes_and_answers_in_both_modes(table_uri, wordnet_sample, wordnet_queries):
    ram, disk = open_table(table_uri), open_table(table_uri, memory="disk")
    assert (ram.memory, disk.memory) == ("ram", "disk")
    per_ram = ram.resident_bytes() / N
    per_disk = disk.resident_bytes() / N
    assert per_ram >= 384 + 48
    assert per_disk <= 80
    assert disk.hot_state().codes is None and disk.hot_state().bits is not None
    q = wordnet_queries[:40]
    # same candidates re-scored by the same codec: the same answers
    a, sa = _ids(ram, q, rerank=256)
    b, sb = _ids(disk, q, rerank=256, candidates=256)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.allclose(sa, sb, atol=1e-6)
    # payload read with the codes (disk mode, fixed-width columns), post-filtered
    post = {"id": {"$lt": 5000}}
    pa_ = ram.search(q[:6]).where(post, prefilter=False).limit(10).rerank(256).to_arrow()
    pb = disk.search(q[:6]).where(post, prefilter=False).limit(10).rerank(256) \
        .candidates(256).to_arrow()
    assert pb.column("title").to_pylist() == pa_.column("title").to_pylist()
    pc = disk.search(q[:6]).where(post, prefilter=False).limit(10).rerank(256) \
        .candidates(256).select([]).to_arrow()
    assert pc.column("id").to_pylist() == pa_.column("id").to_pylist()
    assert all(i < 5000 for i in pc.column("id").to_pylist())
    gt = exact_top(q, wordnet_sample[:N], 10)
    got, _ = _ids(disk, q)
    recall = np.mean([len(set(r) & set(g)) / 10 for r, g in zip(got, gt, strict=True)])
    assert recall >= 0.95
    st = disk.hot_state()
    auto = st.tuned[("auto", 10, 0.98, None, None, None)]
    assert 10 <= auto.depth2 <= auto.depth
    hit = disk.search(wordnet_sample[17]).limit(1).with_vectors().to_list()[0]
    assert hit["id"] == 17 and hit["title"] == "t17"
    assert float(np.dot(hit["vector"], wordnet_sample[17])) / np.linalg.norm(
        wordnet_sample[17]) > 0.99


def test_disk_cache_folder(table_uri, tmp_path, wordnet_sample, wordnet_queries):
    cache = tmp_path / "codes-cache"
    t = open_table(table_uri, memory="disk", cache_dir=str(cache))
    plain = open_table(table_uri, memory="disk")
    q = wordnet_queries[:20]
    a, sa = _ids(t, q, rerank=128, candidates=512)
    b, sb = _ids(plain, q, rerank=128, candidates=512)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.allclose(sa, sb)
    files = sorted(cache.glob("*.codes"))
    assert len(files) == 1 and files[0].stat().st_size == N * t.codec.code_bytes
    stamp = files[0].stat().st_mtime_ns
    again = open_table(table_uri, memory="disk", cache_dir=str(cache))
    c, _ = _ids(again, q, rerank=128, candidates=512)
    assert all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert files[0].stat().st_mtime_ns == stamp
    assert not [f for f in os.listdir(cache) if ".tmp" in f]


def test_disk_mode_follows_writes(tmp_path, wordnet_sample):
    x = wordnet_sample
    t = create_table(str(tmp_path / "w.lance"), {"id": np.arange(9000), "vector": x[:9000]},
                     progress=False)
    d = open_table(t.uri, memory="disk", cache_dir=str(tmp_path / "c"))
    assert d.search(x[5]).limit(1).to_list()[0]["id"] == 5
    d.add({"id": [9000], "vector": x[9000:9001]})
    assert d.hot_state().loaded_rows == 1
    d.delete({"id": 5})
    assert d.hot_state().loaded_rows == 0
    assert d.search(x[9000]).limit(1).to_list()[0]["id"] == 9000
    assert 5 not in [h["id"] for h in d.search(x[5]).limit(5).to_list()]
    assert len(list((tmp_path / "c").glob("*.codes"))) == 2


def test_disk_mode_alongside(tmp_path, scifact_corpus_emb, scifact_query_emb):
    x = scifact_corpus_emb[:2000]
    t = create_table(str(tmp_path / "a.lance"), rows(x), mode="alongside", progress=False)
    d = open_table(t.uri, memory="disk")
    q = scifact_query_emb[:10]
    gt = exact_top(q, x, 10)
    res = d.search(q).limit(10).to_arrow()
    qi, ids = res.column("_query_index").to_numpy(), res.column("id").to_pylist()
    got = [[int(ids[j][3:]) for j in np.flatnonzero(qi == i)] for i in range(len(q))]
    assert np.mean([len(set(r) & set(g)) / 10 for r, g in zip(got, gt, strict=True)]) >= 0.97
    assert d.resident_bytes() < 1000
    d.create_vector_index("IVF_FLAT", num_partitions=4)
    assert d.search(x[3]).limit(1).rerank(50).nprobes(4).to_list()[0]["id"] == "doc3"


def test_disk_mode_pins_the_mmap_threshold(table_uri, monkeypatch):
    from lance_spiral.table import codecache

    monkeypatch.setattr(codecache, "_MALLOC_DONE", [])
    monkeypatch.setenv("LANCE_SPIRAL_KEEP_MALLOC", "1")
    assert codecache.bound_malloc() is False
    monkeypatch.delenv("LANCE_SPIRAL_KEEP_MALLOC")
    open_table(table_uri, memory="disk")
    assert codecache._MALLOC_DONE == [True]
    assert codecache.bound_malloc() is False


def test_bad_memory_options(table_uri, tmp_path):
    with pytest.raises(InvalidParameterError, match="memory"):
        open_table(table_uri, memory="ssd")
    with pytest.raises(InvalidParameterError, match="disk"):
        open_table(table_uri, cache_dir=str(tmp_path))
    with pytest.raises(InvalidParameterError, match="cache_dir"):
        open_table(table_uri, memory="disk", cache_dir=123)  # type: ignore[arg-type]


def test_disk_mode_on_s3_with_a_local_cache(s3, tmp_path, wordnet_sample):  # noqa: F811
    prefix, opts = s3
    x = wordnet_sample[:3000]
    uri = f"{prefix}/m.lance"
    ram = create_table(uri, {"id": np.arange(3000), "vector": x}, storage_options=opts,
                       progress=False)
    cache = tmp_path / "cache"
    disk = open_table(uri, memory="disk", cache_dir=str(cache), storage_options=opts)
    plain = open_table(uri, memory="disk", storage_options=opts)
    a, _ = _ids(ram, x[:8], rerank=200)
    b, _ = _ids(disk, x[:8], rerank=200, candidates=200)
    c, _ = _ids(plain, x[:8], rerank=200, candidates=200)
    assert all(np.array_equal(i, j) for i, j in zip(a, b, strict=True))
    assert all(np.array_equal(i, j) for i, j in zip(a, c, strict=True))
    assert [r[0] for r in b] == list(range(8))
    assert len(list(cache.glob("*.codes"))) == 1
    disk.add({"id": [3000], "vector": x[5:6] * 0.5 + x[6:7] * 0.5})
    assert len(list(cache.glob("*.codes"))) == 2
    assert disk.search(x[5] * 0.5 + x[6] * 0.5).limit(1).to_list()[0]["id"] == 3000
    assert opts["aws_secret_access_key"] not in repr(disk)
