"""DocumentStore memory modes: a disk-resident store answers like a RAM one from ~48 B/vector."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from lance_spiral.codecs.metrics import exact_topk, recall_at
from lance_spiral.documents import DocumentStore
from lance_spiral.errors import InvalidParameterError
from lance_spiral.sample import load_sample


@pytest.fixture(scope="module")
def sample():
    docs, vectors, _, query_vectors = load_sample()
    return docs, vectors, query_vectors[:60]


def _fill(store: DocumentStore, docs, vectors) -> None:
    store.upsert([d["id"] for d in docs], [d["text"] for d in docs],
                 [json.dumps({"n": i}) for i in range(len(docs))], vectors)


def _recall(store: DocumentStore, docs, vectors, queries) -> float:
    pos = {d["id"]: i for i, d in enumerate(docs)}
    found = np.array([[pos[r["id"]] for r in store.search(q, 10)[0]] for q in queries])
    return recall_at(found, exact_topk(vectors, queries, 10, metric="cosine"))


def test_disk_memory_store_matches_ram_store(tmp_path, sample):
    docs, vectors, queries = sample
    ram = DocumentStore(str(tmp_path / "ram.lance"))
    disk = DocumentStore(str(tmp_path / "disk.lance"), memory="disk",
                         cache_dir=tmp_path / "cache")
    _fill(ram, docs, vectors)
    _fill(disk, docs, vectors)
    assert ram.table.memory == "ram" and disk.table.memory == "disk"
    r_ram = _recall(ram, docs, vectors, queries)
    r_disk = _recall(disk, docs, vectors, queries)
    assert r_ram >= 0.97 and r_disk >= r_ram - 0.02, (r_ram, r_disk)
    assert disk.table.resident_bytes() / len(docs) < 100 < ram.table.resident_bytes() / len(docs)
    reopened = DocumentStore(str(tmp_path / "disk.lance"), memory="disk")
    assert reopened.table.memory == "disk" and reopened.count() == len(docs)
    top = reopened.search(vectors[7], 1)[0][0]
    assert top["id"] == docs[7]["id"] and top["text"] == docs[7]["text"]


def test_memory_options_checked(tmp_path):
    with pytest.raises(InvalidParameterError, match="memory must be"):
        DocumentStore(str(tmp_path / "a.lance"), memory="ssd")
    with pytest.raises(InvalidParameterError, match="cache_dir"):
        DocumentStore(str(tmp_path / "a.lance"), cache_dir=str(tmp_path / "c"))


def test_read_consistency_interval(tmp_path, sample):
    docs, vectors, _ = sample
    uri = str(tmp_path / "shared.lance")
    writer = DocumentStore(uri)
    _fill(writer, docs[:100], vectors[:100])
    every = DocumentStore(uri, read_consistency_interval=0)
    never = DocumentStore(uri, read_consistency_interval=None)
    later = DocumentStore(uri, read_consistency_interval=timedelta(hours=1))
    assert every.count() == never.count() == later.count() == 100
    _fill(writer, docs[100:250], vectors[100:250])  # another handle commits (as a process would)
    assert every.count() == 250 and every.search(vectors[200], 1)[0][0]["id"] == docs[200]["id"]
    assert never.count() == 100 and later.count() == 100  # still on the version they read
    writer.drop()
    assert every.count() == 0 and every.search(vectors[3], 1)[0] == []
    with pytest.raises(InvalidParameterError, match="read_consistency_interval"):
        DocumentStore(uri, read_consistency_interval=-1)
    with pytest.raises(InvalidParameterError, match="read_consistency_interval"):
        DocumentStore(uri, read_consistency_interval="1s")
