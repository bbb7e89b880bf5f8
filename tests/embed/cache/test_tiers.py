"""TieredCache and CachedEmbedder on real SciFact query texts and their real embeddings."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.embed import CachedEmbedder, TieredCache
from lance_spiral.errors import (
    DimensionError,
    DTypeError,
    EmptyInputError,
    InvalidParameterError,
    NonFiniteError,
    UnknownCodecError,
)

D = 384
L1_ENTRY = 4 * D + 32  # float32 vector + 32-byte key


@pytest.fixture(scope="module")
def scifact(shared_data: Path) -> tuple[list[str], np.ndarray]:
    """The 1,109 SciFact claims and their all-MiniLM-L6-v2 embeddings (unique texts only)."""
    texts = [json.loads(line)["text"] for line in
             (shared_data / "scifact" / "queries.jsonl").open(encoding="utf-8")]
    emb = np.load(shared_data / "scifact" / "query_emb.npy").astype(np.float32)
    _, first = np.unique(np.array(texts, dtype=object), return_index=True)
    first.sort()
    return [texts[i] for i in first], emb[first]


class LookupEmbedder:
    """Serves the precomputed teacher embeddings of the SciFact claims and counts what it embeds."""

    dim = D

    def __init__(self, texts: list[str], emb: np.ndarray) -> None:
        self.table = dict(zip(texts, emb, strict=True))
        self.calls: list[int] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.stack([self.table[t] for t in texts])


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_l1_roundtrip_exact_and_counters(scifact):
    texts, emb = scifact
    c = TieredCache("minilm")
    v, missing = c.get_many(texts[:10])
    assert missing.tolist() == list(range(10)) and v.shape == (10, 0)
    c.put_many(texts[:10], emb[:10])
    v, missing = c.get_many(texts[5:15])
    assert missing.tolist() == list(range(5, 10))
    np.testing.assert_array_equal(v[:5], emb[5:10])
    assert not v[5:].any()
    s = c.stats()
    assert (s["l1_hits"], s["l1_misses"], s["l2_misses"]) == (5, 15, 15)
    assert s["l1_entries"] == 10 and s["l1_bytes"] == 10 * L1_ENTRY


def test_eviction_by_bytes_demote_and_promote(scifact):
    texts, emb = scifact
    c = TieredCache("minilm", l1_bytes=5 * L1_ENTRY, l2_bytes=10**6, l2_codec="float16")
    c.put_many(texts[:8], emb[:8])
    s = c.stats()
    assert s["l1_entries"] == 5 and s["l1_bytes"] <= 5 * L1_ENTRY
    assert s["l2_entries"] == 3 and s["demotions"] == 3 and s["l1_evictions"] == 3
    assert s["l2_bytes"] == 3 * (2 * D + 32)  # float16 codes: half the L1 bytes per vector
    v, missing = c.get_many([texts[0]])  # the oldest: demoted to L2
    assert missing.size == 0 and cos(v, emb[:1])[0] > 0.9999
    s = c.stats()
    assert s["l2_hits"] == 1 and s["promotions"] == 1
    assert s["l2_entries"] == 3  # texts[0] left L2, the LRU entry of L1 came down instead
    c.get_many([texts[0]])
    assert c.stats()["l1_hits"] == 1  # promoted: now an L1 hit


def test_lru_order_respects_access(scifact):
    texts, emb = scifact
    c = TieredCache("minilm", l1_bytes=3 * L1_ENTRY, l2_bytes=0)
    c.put_many(texts[:3], emb[:3])
    c.get_many([texts[0]])  # refresh the oldest
    c.put_many([texts[3]], emb[3:4])  # evicts texts[1], the least recently used
    _, missing = c.get_many(texts[:4])
    assert missing.tolist() == [1]
    assert c.stats()["l2_entries"] == 0  # l2_bytes=0 disables L2


def test_l2_evicts_by_bytes(scifact):
    texts, emb = scifact
    c = TieredCache("minilm", l1_bytes=2 * L1_ENTRY, l2_bytes=4 * (2 * D + 32))
    c.put_many(texts[:10], emb[:10])
    s = c.stats()
    assert s["l2_entries"] == 4 and s["l2_evictions"] == 4
    _, missing = c.get_many(texts[:10])
    assert missing.tolist() == [0, 1, 2, 3]


def test_sq8_l2_tier_compresses_real_embeddings(scifact):
    texts, emb = scifact
    n = 600
    c = TieredCache("minilm", l1_bytes=50 * L1_ENTRY, l2_bytes=10**7, l2_codec="sq:bits=8",
                    l2_fit_rows=256)
    c.put_many(texts[:n], emb[:n])
    s = c.stats()
    assert s["l2_entries"] == n - 50
    assert s["l2_bytes"] == (n - 50) * (D + 32)  # fitted on the first 256: all entries are codes
    v, missing = c.get_many(texts[:n - 50])
    assert missing.size == 0
    c_ = cos(v, emb[:n - 50])
    assert c_.min() > 0.995 and c_.mean() > 0.999


def test_l3_restart_exact(tmp_path, scifact):
    texts, emb = scifact
    with TieredCache("minilm", l3_dir=tmp_path, l3_flush_rows=10_000) as c:
        c.put_many(texts[:200], emb[:200])
        assert c.stats()["l3_pending"] == 200
    c2 = TieredCache("minilm", l3_dir=tmp_path)
    assert c2.dim == D
    v, missing = c2.get_many(texts[:250])
    assert missing.tolist() == list(range(200, 250))
    np.testing.assert_array_equal(v[:200], emb[:200])  # L3 stores float32: exact
    s = c2.stats()
    assert (s["l3_hits"], s["l3_misses"], s["l1_entries"]) == (200, 50, 200)
    c2.get_many(texts[:200])
    assert c2.stats()["l1_hits"] == 200  # L3 hits were promoted
    other = TieredCache("another-model", l3_dir=tmp_path)
    assert other.get_many(texts[:5])[1].size == 5  # separate table per model key


def test_l3_batched_appends_pending_reads_dedupe_and_optimize(tmp_path, scifact):
    texts, emb = scifact
    c = TieredCache("minilm", l1_bytes=0, l2_bytes=0, l3_dir=tmp_path, l3_flush_rows=100)
    for start in range(0, 250, 50):
        c.put_many(texts[start:start + 50], emb[start:start + 50])
    s = c.stats()
    assert s["l3_appends"] == 2 and s["l3_rows_written"] == 200 and s["l3_pending"] == 50
    v, missing = c.get_many(texts[180:250])  # 20 on disk + 50 still buffered
    assert missing.size == 0
    np.testing.assert_array_equal(v, emb[180:250])
    c.flush()
    twin = TieredCache("minilm", l3_dir=tmp_path)
    twin.put_many(texts[:10], emb[:10])  # same keys again: duplicates on disk
    twin.flush()
    c.optimize()
    fresh = TieredCache("minilm", l3_dir=tmp_path)
    v, missing = fresh.get_many(texts[:250])
    assert missing.size == 0
    np.testing.assert_array_equal(v, emb[:250])


def test_threads_share_one_cache(scifact, tmp_path):
    texts, emb = scifact
    c = TieredCache("minilm", l1_bytes=40 * L1_ENTRY, l2_bytes=60 * (2 * D + 32),
                    l3_dir=tmp_path, l3_flush_rows=64)
    errors: list[BaseException] = []
    lookups = [0]
    lock = threading.Lock()

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(60):
                idx = rng.integers(0, 300, size=8)
                batch = [texts[i] for i in idx]
                v, missing = c.get_many(batch)
                with lock:
                    lookups[0] += len(batch)
                hit = np.setdiff1d(np.arange(8), missing)
                if hit.size:
                    assert cos(v[hit], emb[idx[hit]]).min() > 0.9999
                if missing.size:
                    c.put_many([batch[i] for i in missing], emb[idx[missing]])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    s = c.stats()
    assert s["l1_hits"] + s["l1_misses"] == lookups[0]
    assert s["l1_bytes"] <= 40 * L1_ENTRY and s["l2_bytes"] <= 60 * (2 * D + 32)
    assert s["l2_hits"] > 0 and s["l3_hits"] > 0 and s["hit_rate"] > 0.5
    c.flush()
    v, missing = TieredCache("minilm", l3_dir=tmp_path).get_many(texts[:300])
    seen = np.setdiff1d(np.arange(300), missing)
    np.testing.assert_array_equal(v[seen], emb[seen])


def test_cached_embedder_only_misses_reach_the_embedder(scifact):
    texts, emb = scifact
    inner = LookupEmbedder(texts, emb)
    ce = CachedEmbedder(inner, model="minilm")
    assert ce.dim == D
    batch = [texts[3], texts[1], texts[3], texts[2]]
    out = ce.embed(batch)
    np.testing.assert_array_equal(out, emb[[3, 1, 3, 2]])
    assert inner.calls == [3]  # deduplicated
    out = ce.embed([texts[2], texts[4], texts[1]])
    np.testing.assert_array_equal(out, emb[[2, 4, 1]])
    assert inner.calls == [3, 1]
    ce.embed(texts[1:5])
    assert inner.calls == [3, 1]


async def test_cached_embedder_aembed(scifact):
    texts, emb = scifact
    ce = CachedEmbedder(LookupEmbedder(texts, emb), TieredCache("minilm"))
    np.testing.assert_array_equal(await ce.aembed(texts[:3]), emb[:3])


def test_bad_input(scifact):
    texts, emb = scifact
    c = TieredCache("minilm")
    with pytest.raises(DTypeError):
        c.get_many("one string")
    with pytest.raises(DTypeError):
        c.get_many(["ok", 3])
    with pytest.raises(DimensionError):
        c.put_many(texts[:3], emb[:2])
    c.put_many(texts[:2], emb[:2])
    with pytest.raises(DimensionError):
        c.put_many(texts[2:3], emb[2:3, :100])
    bad = emb[2:3].copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        c.put_many(texts[2:3], bad)
    with pytest.raises(DTypeError):
        c.put_many(texts[2:3], np.ones((1, D), dtype=np.int32))
    with pytest.raises(EmptyInputError):
        c.put_many([], np.zeros((0, D), np.float32))
    v, missing = c.get_many([])
    assert v.shape == (0, D) and missing.size == 0
    with pytest.raises(InvalidParameterError):
        TieredCache("")
    with pytest.raises(InvalidParameterError):
        TieredCache("m", l1_bytes=-1)
    with pytest.raises(UnknownCodecError):
        TieredCache("m", l2_codec="nope:bits=3")
    with pytest.raises(InvalidParameterError):
        CachedEmbedder(object(), model="m")
    ce = CachedEmbedder(LookupEmbedder(texts, emb), model="m")
    with pytest.raises(EmptyInputError):
        ce.embed([])
    with pytest.raises(DTypeError):
        ce.embed([b"bytes"])
