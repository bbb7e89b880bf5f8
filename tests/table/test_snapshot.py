"""One snapshot per query (issue 22 item 2): a shared handle searched from threads while other
threads write and refresh it; every hit's id, payload, vector and score belong together."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest

from lance_spiral.codecs import normalize_rows
from lance_spiral.table import create_table
from lance_spiral.table.search import search_codes

N0 = 4000


@pytest.fixture
def shared(tmp_path, wordnet_sample):
    x = wordnet_sample
    data = {"id": np.arange(N0), "vector": x[:N0], "part": np.arange(N0) % 3,
            "title": [f"t{i}" for i in range(N0)]}
    return create_table(str(tmp_path / "shared.lance"), data, progress=False)


def _rows(x, lo, hi):
    return {"id": np.arange(lo, hi), "vector": x[lo:hi], "part": np.arange(lo, hi) % 3,
            "title": [f"t{i}" for i in range(lo, hi)]}


def test_threads_search_a_shared_handle_while_it_is_written(shared, wordnet_sample):
    t, x = shared, wordnet_sample
    xn = normalize_rows(x)
    stop = threading.Event()
    errors: list[BaseException] = []
    checked = [0, 0]
    lock = threading.Lock()
    top = [N0]

    def writer() -> None:
        rng = np.random.default_rng(7)
        try:
            nxt = N0
            for i in range(30):
                t.add(_rows(x, nxt, nxt + 20))
                nxt += 20
                top[0] = nxt
                t.delete({"id": {"$in": rng.choice(nxt, 8, replace=False).tolist()}})
                if i % 5 == 0:
                    v = int(rng.integers(nxt))
                    t.upsert(_rows(x, v, v + 1))
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def refresher() -> None:
        while not stop.is_set():
            try:
                t.refresh()
            except BaseException as exc:
                errors.append(exc)
                return

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        done = 0
        try:
            while not stop.is_set() or done < 100:
                row = int(rng.integers(top[0]))
                qv = x[row] + 0.02 * rng.standard_normal(x.shape[1]).astype(np.float32)
                qn = qv / np.linalg.norm(qv)
                s = t.search(qv).limit(5).with_vectors()
                filtered = done % 3 == 0
                if filtered:
                    s = s.where({"part": 1})
                hits = s.to_list()
                assert hits, "a search over a non-empty table returned nothing"
                for h in hits:
                    i = int(h["id"])
                    assert h["title"] == f"t{i}" and h["part"] == i % 3
                    assert not filtered or h["part"] == 1
                    v = np.asarray(h["vector"], np.float32)
                    assert float(v @ xn[i]) / float(np.linalg.norm(v)) > 0.995
                    assert abs(h["_score"] - float(qn @ xn[i])) < 0.02
                done += 1
                with lock:
                    checked[0] += 1
                    checked[1] += len(hits)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=refresher),
               *[threading.Thread(target=searcher, args=(s,)) for s in range(3)]]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not errors, repr(errors[0])
    assert checked[0] >= 300 and checked[1] >= 5 * 250
    assert t.count_rows() == t.hot_state().n_live


def test_a_snapshot_never_changes_under_later_writes(shared, wordnet_sample):
    t, x = shared, wordnet_sample
    snap = t.snapshot()
    st = snap.state
    assert st is not None
    n_live, version = st.n_live, snap.version
    t.delete(sql="id < 1000")
    t.add(_rows(x, N0, N0 + 50))
    assert t.version > version and t.snapshot().state.n_live == N0 - 1000 + 50
    assert snap.version == version and st.n_live == n_live and st.alive is None
    _, pos = search_codes(st, x[10], 5, depth=200, nprobes=None, metric="cosine")
    rid = st.rowids_at(pos)
    got = snap.dataset._take_rows(pa.array(rid), columns=["id"]).column("id").to_pylist()
    assert got[0] == 10 and len(got) == 5
