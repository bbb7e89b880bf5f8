"""Incremental hot state (issue 22 item 8) on real WordNet rows.

After an append the next search reads only the new fragment's rows; a delete refreshes a mask
(row addresses only, no codes); rewrites (upsert, compaction) read only the rewritten fragments;
a codec refit reloads everything. Every derived state answers exactly like a fresh full load.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lance_spiral.table import create_table, hotload, open_table
from lance_spiral.table.search import search_codes

N = 12000


@pytest.fixture(scope="module")
def base_table(tmp_path_factory, wordnet_sample):
    path = tmp_path_factory.mktemp("state") / "base.lance"
    data = {"id": np.arange(N), "vector": wordnet_sample[:N], "part": np.arange(N) % 4}
    create_table(str(path), data, progress=False)
    return path


@pytest.fixture
def table(base_table, tmp_path):
    dst = tmp_path / "t.lance"
    shutil.copytree(base_table, dst)
    return open_table(str(dst))


def _hits(t, q, **kw):
    s = t.search(q).limit(10).rerank(kw.get("rerank", 300)).candidates(1000).select([])
    if "nprobes" in kw:
        s = s.nprobes(kw["nprobes"])
    res = s.to_arrow()
    return res.column("id").to_numpy(), res.column("_score").to_numpy()


def _same_as_fresh(t, queries, **kw):
    fresh = open_table(t.uri, memory=t.memory)
    assert fresh.hot_state().loaded_rows == fresh.hot_state().n_live
    for q in queries:
        a_ids, a_sc = _hits(t, q, **kw)
        b_ids, b_sc = _hits(fresh, q, **kw)
        assert np.array_equal(a_ids, b_ids)
        assert np.allclose(a_sc, b_sc, atol=1e-6)


def test_append_reads_only_new_rows(table, wordnet_sample, wordnet_queries):
    q = wordnet_queries[:25]
    t = table
    t.search(q[0]).limit(10).to_arrow()
    st0 = t.hot_state()
    assert st0.loaded_rows == N and st0.alive is None
    before = [_hits(t, row) for row in q[:5]]
    tuned = dict(st0.tuned)
    t.add({"id": [N], "vector": wordnet_sample[N:N + 1], "part": [1]})
    st1 = t.hot_state()
    assert st1.version > st0.version and st1.loaded_rows == 1 and st1.n_live == N + 1
    assert st1.tuned == tuned and tuned
    hit = t.search(wordnet_sample[N]).limit(1).to_list()[0]
    assert hit["id"] == N
    t.add({"id": np.arange(N + 1, N + 501), "vector": wordnet_sample[N + 1:N + 501],
           "part": np.zeros(500, np.int64)})
    st2 = t.hot_state()
    assert st2.loaded_rows == 500 and st2.n == N + 501
    # the older state still answers as it did (appends never touch its rows)
    for row, (ids, scores) in zip(q[:5], before, strict=True):
        s, pos = search_codes(st0, row, 10, depth=1000, depth2=300, nprobes=None,
                              metric="cosine")
        assert np.array_equal(np.sort(st0.rowids_at(pos)), np.sort(ids.astype(np.uint64)))
        assert np.allclose(np.sort(s), np.sort(scores), atol=1e-6)
    _same_as_fresh(t, q)


def test_delete_updates_a_mask_without_reading_codes(table, wordnet_sample, wordnet_queries):
    t = table
    t.add({"id": [N], "vector": wordnet_sample[N:N + 1], "part": [0]})
    t.search(wordnet_queries[0]).limit(10).to_arrow()
    gone = np.arange(0, 3000, 7)
    t.delete({"id": {"$in": gone.tolist()}})
    st = t.hot_state()
    assert st.loaded_rows == 0
    assert st.cache["mask_rows"] == N - len(gone)
    assert st.alive is not None and st.n_live == N + 1 - len(gone)
    res = t.search(wordnet_sample[gone[:40]]).limit(3).rerank(200).to_arrow()
    assert not set(res.column("id").to_pylist()) & set(gone.tolist())
    _same_as_fresh(t, wordnet_queries[:25])
    assert t.count_rows() == st.n_live


def test_upsert_and_compaction_read_only_rewritten_rows(table, wordnet_sample, wordnet_queries):
    t = table
    t.search(wordnet_queries[0]).limit(10).to_arrow()
    ids = np.arange(100, 160)
    t.upsert({"id": ids, "vector": wordnet_sample[N:N + 60], "part": np.full(60, 3)})
    st = t.hot_state()
    assert st.loaded_rows == 60 and st.n_live == N
    hit = t.search(wordnet_sample[N + 5]).limit(1).with_vectors().to_list()[0]
    assert hit["id"] == 105
    _same_as_fresh(t, wordnet_queries[:15])
    old = {i.key for i in t.hot_state().rows.infos}
    t.compact()
    st = t.hot_state()
    assert st.loaded_rows == sum(i.rows for i in st.rows.infos if i.key not in old) > 0
    _same_as_fresh(t, wordnet_queries[:15])


def test_dropped_fragments_are_compacted_in_memory(table, wordnet_sample, wordnet_queries,
                                                   monkeypatch):
    monkeypatch.setattr(hotload, "_COMPACT_MIN", 100)
    t = table
    for lo in (N, N + 2000):
        t.add({"id": np.arange(lo, lo + 2000), "vector": wordnet_sample[lo:lo + 2000],
               "part": np.ones(2000, np.int64)})
    t.search(wordnet_queries[0]).limit(10).to_arrow()
    assert t.hot_state().n == N + 4000
    t.delete(sql=f"id < {N + 2000}")
    t.add({"id": [N + 7000], "vector": wordnet_queries[1:2], "part": [2]})
    st = t.hot_state()
    assert st.loaded_rows == 1 and st.n == 2001 and st.alive is None
    assert t.search(wordnet_queries[1]).limit(1).to_list()[0]["id"] == N + 7000
    _same_as_fresh(t, wordnet_queries[:15])


def test_refit_is_the_only_full_reload(tmp_path, wordnet_sample, wordnet_queries):
    x = wordnet_sample
    t = create_table(str(tmp_path / "r.lance"), {"id": np.arange(600), "vector": x[:600]},
                     fit_rows=1000, progress=False)
    t.search(wordnet_queries[0]).limit(5).to_arrow()
    assert t.meta.provisional
    t.add({"id": np.arange(600, 700), "vector": x[600:700]})
    assert t.hot_state().loaded_rows == 100 and t.meta.provisional
    t.add({"id": np.arange(700, 1200), "vector": x[700:1200]})
    assert not t.meta.provisional
    st = t.hot_state()
    assert st.loaded_rows == 1200 == st.n
    _same_as_fresh(t, wordnet_queries[:10])


def test_ivf_appends_reuse_the_partition_index(tmp_path, wordnet_sample, wordnet_queries):
    x = wordnet_sample
    t = create_table(str(tmp_path / "ivf.lance"), {"id": np.arange(N), "vector": x[:N]},
                     nlist=16, progress=False)
    t.search(wordnet_queries[0]).limit(10).nprobes(4).rerank(300).to_arrow()
    for i in range(5):
        lo = N + 200 * i
        t.add({"id": np.arange(lo, lo + 200), "vector": x[lo:lo + 200]})
        t.search(wordnet_queries[i]).limit(10).nprobes(4).rerank(300).to_arrow()
    st = t.hot_state()
    assert st.indexed == N < st.n == N + 1000
    _same_as_fresh(t, wordnet_queries[:20], nprobes=4)


@pytest.mark.parametrize("memory", ["ram", "disk"])
def test_tables_with_stable_row_ids(tmp_path, wordnet_sample, wordnet_queries, memory):
    import lance
    import pyarrow as pa

    from lance_spiral.table.compress import compress_table

    x = wordnet_sample[:9000]
    path = str(tmp_path / "stable.lance")
    vec = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])
    lance.write_dataset(pa.table({"id": np.arange(9000), "vector": vec}), path,
                        enable_stable_row_ids=True, max_rows_per_file=3000)
    lance.dataset(path).delete("id < 100")
    compress_table(path, codec="sq:bits=8", mode="compressed", progress=False)
    t = open_table(path, memory=memory)
    st = t.hot_state()
    assert t.dataset.has_stable_row_ids and st.rowids is not None and st.n_live == 8900
    assert t.search(x[500]).limit(1).to_list()[0]["id"] == 500
    hits = t.search(x[150:152]).where({"id": {"$lt": 3000}}).limit(3).to_list()
    assert hits[0]["id"] == 150 and all(h["id"] < 3000 for h in hits)
    t.delete({"id": 500})
    assert 500 not in [h["id"] for h in t.search(x[500]).limit(3).to_list()]
    _same_as_fresh(t, wordnet_queries[:10])


def test_ivf_reindex_lays_bits_out_by_partition(tmp_path, wordnet_sample, wordnet_queries):
    # An append past the index's tail limit re-indexes: the new state's candidate bits move into
    # partition order in a new buffer; the older state (a running query may hold it) keeps its
    # own layout and answers as before; the new one answers like a fresh load.
    x, q = wordnet_sample, wordnet_queries[:20]
    n0 = 6000
    t = create_table(str(tmp_path / "lay.lance"), {"id": np.arange(n0), "vector": x[:n0]},
                     nlist=16, progress=False)
    t.search(q[0]).limit(10).nprobes(4).rerank(300).to_arrow()
    st0 = t.hot_state()
    before = [search_codes(st0, row, 10, depth=1000, depth2=300, nprobes=4, metric="cosine")
              for row in q[:5]]
    t.add({"id": np.arange(n0, n0 + 4500), "vector": x[n0:n0 + 4500]})
    st1 = t.hot_state()
    assert st1.indexed == st1.n == n0 + 4500 and st1.bits is not st0.bits
    for row, (s0, p0) in zip(q[:5], before, strict=True):
        s, p = search_codes(st0, row, 10, depth=1000, depth2=300, nprobes=4, metric="cosine")
        assert np.array_equal(p, p0) and np.allclose(s, s0)
    # every partition's rows sit in one contiguous run of slots, in the index's order
    assert st1.part_order is not None and st1.part_offsets is not None
    parts = st1.parts[st1.positions_at(np.arange(st1.n))]
    assert np.all(np.diff(parts.astype(np.int64)) >= 0)
    assert np.array_equal(st1.slots_of(st1.part_order), np.arange(st1.n))
    fresh = open_table(t.uri).hot_state()
    addr = st1.rows.addresses(np.arange(st1.n))
    pos_fresh = fresh.rows.positions(addr)
    assert np.array_equal(st1.bits[st1.slots_of(np.arange(st1.n))],
                          fresh.bits[fresh.slots_of(pos_fresh)])
    _same_as_fresh(t, q, nprobes=4)


def test_writer_retunes_after_a_large_append(tmp_path, wordnet_sample, wordnet_queries):
    # The automatic settings are dropped when the table grows by more than 20%: the new version
    # keeps serving with the previous ones while a background thread measures new ones, so
    # neither the writer nor a query waits for tuning.
    x = wordnet_sample
    t = create_table(str(tmp_path / "rt.lance"), {"id": np.arange(N), "vector": x[:N]},
                     nlist=16, progress=False)
    t.search(wordnet_queries[0]).limit(10).to_arrow()
    key = ("auto", 10, 0.98, None, None, None)
    old = t.hot_state().tuned[key]
    t.add({"id": np.arange(N, N + 4000), "vector": x[N:N + 4000]})
    st = t.hot_state()
    assert st.tuned_rows == N + 4000 and key in st.tuned   # served at once
    hit = t.search(x[N + 5]).limit(1).to_list()[0]
    assert hit["id"] == N + 5
    worker = st.cache["retune"]
    worker.join(timeout=120)
    assert not worker.is_alive()
    new = st.tuned[key]
    assert new is not old and new.nprobes is not None and 1 <= new.nprobes <= 16
