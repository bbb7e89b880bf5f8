"""The automatic depth / nprobes on data where a table row is much easier to answer than a query.

The scale benchmark's generator (real WordNet rows mixed with noise) on a slice of 2,000 real
rows: 24,000 synthetic rows, so each real row seeds about 12 near-duplicates, as at millions of
rows. Queries are the generator's (real queries mixed with a row): far from every row. Probing
the depth with rows (or midpoints of two rows) finds their near-duplicates easily and picks a
depth far too small for such queries (the old tuner: recall@10 about 0.79 here); the probe
queries must be as hard as real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lance_spiral.bench.synthetic import MixtureData
from lance_spiral.table import create_table, open_table
from lance_spiral.table.tune import reference_topk


@pytest.fixture(scope="module")
def dense(tmp_path_factory, shared_data: Path):
    root = tmp_path_factory.mktemp("tune")
    base = np.load(shared_data / "wordnet" / "emb_f16.npy", mmap_mode="r")[:2000]
    np.save(root / "base.npy", np.asarray(base))
    data = MixtureData(str(root / "base.npy"), str(shared_data / "wordnet" / "query_emb.npy"),
                       seed=0)
    x = data.chunk(0, 24000)
    q = data.queries(200)
    gt = np.argsort(-(q @ x.T), axis=1)[:, :10]
    uri = str(root / "t.lance")
    create_table(uri, {"id": np.arange(len(x)), "vector": x}, progress=False)
    return uri, q, gt


def _recall(t, q, gt) -> float:
    ids = t.search(q).limit(10).select([]).to_arrow().column("id").to_numpy()
    ids = ids.reshape(len(q), 10)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, gt, strict=True)]))


@pytest.mark.parametrize("memory", ["ram", "disk"])
def test_automatic_depth_meets_target_on_query_like_data(dense, memory):
    uri, q, gt = dense
    t = open_table(uri, memory=memory)
    # Default target 0.98 of the codec's own top 10; the codec (SQ8) holds ~0.99 of the exact one.
    assert _recall(t, q, gt) >= 0.97
    auto = [v for key, v in t.hot_state().tuned.items() if key[0] == "auto"]
    assert auto and auto[0].depth2 < auto[0].depth      # candidates narrowed, in both modes


def test_explicit_rerank_alone_is_not_narrowed(dense):
    uri, q, gt = dense
    t = open_table(uri)
    # rerank alone re-scores that many Hamming candidates (as before); shallow is worse.
    deep = t.search(q[:50]).limit(10).rerank(4096).select([]).to_arrow()
    shallow = t.search(q[:50]).limit(10).rerank(64).select([]).to_arrow()
    ids_deep = deep.column("id").to_numpy().reshape(50, 10)
    ids_shallow = shallow.column("id").to_numpy().reshape(50, 10)

    def rec(ids):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, gt[:50], strict=True)])

    assert rec(ids_deep) >= 0.97 > rec(ids_shallow)
    assert not t.hot_state().tuned


def test_reference_leaves_out_seed_rows(dense):
    uri = dense[0]
    st = open_table(uri).hot_state()
    qv = st.codec.decode(st.codes[:3]).astype(np.float32)
    own = reference_topk(st, qv, 10)
    left = reference_topk(st, qv, 10, np.arange(3)[:, None])
    for i in range(3):
        assert i in own[i] and i not in left[i] and len(left[i]) == 10
