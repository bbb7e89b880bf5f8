"""Issue 22 for the LangChain store: concurrent first writes, add + search from threads, bad tables.

* Three processes make the store's very first ``add_texts`` at once (no table yet): every
  document is there exactly once afterwards, including ids all three wrote.
* A shared store searched from threads while another thread adds: every hit's id matches its
  text and vector.
* A table of a newer format, a corrupt manifest, or a plain Lance dataset raise the library's
  error instead of the store answering ``[]``.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pytest
from langchain_core.embeddings import Embeddings
from langchain_lance_spiral import LanceSpiralVectorStore

from lance_spiral.errors import CorruptDataError, FormatVersionError, NotFoundError
from tests.support.threads import write_while_reading

WORKERS, OWN, SHARED = 3, 40, 10

CHILD = f"""
import json, sys, time
from pathlib import Path
import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_lance_spiral import LanceSpiralVectorStore

uri, data, worker, go = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
n = {WORKERS} * {OWN} + {SHARED}
lines = (data / "corpus.jsonl").read_text().splitlines()[:n]
texts = [json.loads(x)["title"] + " " + json.loads(x)["text"] for x in lines]
emb = np.asarray(np.load(data / "corpus_emb.npy", mmap_mode="r")[:n], dtype=np.float32)
table = dict(zip(texts, emb))

class Lookup(Embeddings):
    def embed_documents(self, t): return [table[x].tolist() for x in t]
    def embed_query(self, t): return table[t].tolist()

mine = list(range(worker * {OWN}, (worker + 1) * {OWN})) + list(range(n - {SHARED}, n))
store = LanceSpiralVectorStore(Lookup(), uri)
Path(str(go) + f".ready{{worker}}").touch()
while not go.exists():
    time.sleep(0.005)
ids = store.add_texts([texts[i] for i in mine], [{{"i": i}} for i in mine],
                      ids=[f"d{{i}}" for i in mine])
print(json.dumps(ids))
"""


class Lookup(Embeddings):
    def __init__(self, texts: list[str], emb: np.ndarray) -> None:
        self.table = dict(zip(texts, emb, strict=True))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text].tolist()


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> tuple[list[str], np.ndarray]:
    sf = shared_data / "scifact"
    lines = (sf / "corpus.jsonl").read_text().splitlines()[:300]
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, lines)]
    return texts, np.asarray(np.load(sf / "corpus_emb.npy", mmap_mode="r")[:300], np.float32)


def test_first_add_texts_from_three_processes(shared_data: Path, tmp_path: Path,
                                              corpus: tuple[list[str], np.ndarray]) -> None:
    uri, go = tmp_path / "race.lance", tmp_path / "go"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    procs = [subprocess.Popen([sys.executable, str(script), str(uri),
                               str(shared_data / "scifact"), str(w), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(WORKERS)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"go.ready{w}").exists() for w in range(WORKERS)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
            p.communicate()[1][-2000:] for p in procs if p.poll() is not None]
        time.sleep(0.01)
    go.touch()  # all three stores were built on a missing table: now they write at once
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * WORKERS, [err[-2000:] for _, err in outs]
    n = WORKERS * OWN + SHARED
    texts, emb = corpus
    store = LanceSpiralVectorStore(Lookup(texts[:n], emb[:n]), uri)
    got = store.get(include=["documents", "metadatas"])
    counts = collections.Counter(got["ids"])
    assert set(counts) == {f"d{i}" for i in range(n)} and set(counts.values()) == {1}
    assert len(store) == n
    for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
        assert doc == texts[int(i[1:])] and meta == {"i": int(i[1:])}
    assert store.similarity_search(texts[7], k=1)[0].id == "d7"


def test_add_and_search_from_threads(tmp_path: Path,
                                     corpus: tuple[list[str], np.ndarray]) -> None:
    texts, emb = corpus
    store = LanceSpiralVectorStore(Lookup(texts, emb), tmp_path / "threads.lance",
                                   table_kwargs={"fit_rows": 1})
    store.add_embeddings(texts[:200], emb[:200], ids=[f"d{i}" for i in range(200)])
    def write() -> None:
        for start in range(200, 300, 10):
            store.add_embeddings(texts[start:start + 10], emb[start:start + 10],
                                 ids=[f"d{i}" for i in range(start, start + 10)])

    def read_once(rng: np.random.Generator) -> list[str]:
        i = int(rng.integers(0, 200))
        hits = store.similarity_search_by_vector(emb[i].tolist(), k=3)
        wrong = [] if hits[0].id == f"d{i}" else [f"query d{i} came back as {hits[0].id}"]
        return wrong + [f"{h.id} paired with another row's text" for h in hits
                        if h.page_content != texts[int(str(h.id)[1:])]]

    errors, searches = write_while_reading(write, read_once)
    assert not errors, errors[:5]
    assert searches >= 30 and len(store) == 300


def _meta_with(uri: Path, **changes: Any) -> None:
    ds = lance.dataset(str(uri))
    meta = json.loads(ds.schema.metadata[b"lance_spiral"])
    ds.update_schema_metadata({"lance_spiral": json.dumps({**meta, **changes})})


def test_unreadable_tables_raise_instead_of_looking_empty(
        tmp_path: Path, corpus: tuple[list[str], np.ndarray]) -> None:
    texts, emb = corpus
    emb_model = Lookup(texts, emb)
    newer = tmp_path / "newer.lance"
    LanceSpiralVectorStore(emb_model, newer).add_embeddings(texts[:5], emb[:5])
    _meta_with(newer, format_version=99)
    with pytest.raises(FormatVersionError, match="format version 99"):
        LanceSpiralVectorStore(emb_model, newer)
    broken = tmp_path / "broken.lance"
    LanceSpiralVectorStore(emb_model, broken).add_embeddings(texts[:5], emb[:5])
    latest = max((broken / "_versions").glob("*.manifest"), key=lambda p: p.stat().st_mtime_ns)
    latest.write_bytes(latest.read_bytes()[:40])
    with pytest.raises(CorruptDataError, match="manifest"):
        LanceSpiralVectorStore(emb_model, broken)
    plain = tmp_path / "plain.lance"
    lance.write_dataset(pa.table({"id": ["a"], "text": ["x"]}), str(plain))
    with pytest.raises(NotFoundError, match="not a lance-spiral table"):
        LanceSpiralVectorStore(emb_model, plain)
    empty = LanceSpiralVectorStore(emb_model, tmp_path / "missing.lance")
    assert empty.similarity_search(texts[0]) == [] and len(empty) == 0
