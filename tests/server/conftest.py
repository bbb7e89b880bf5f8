"""A real `lance-spiral serve` started once for the server tests, over real WordNet glosses.

The server runs in a child process on a free 127.0.0.1 port (the command users run), with an
API key, a 16 MiB body limit and the default text embedder (the approximator shipped in the
package: ``LANCE_SPIRAL_APPROXIMATOR`` is emptied so a developer's override cannot leak in).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from lance_spiral.sample import load_sample
from lance_spiral.server.launch import ServerProcess

API_KEY = "test-key-7d2f"
SEED_ROWS = 2000
POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


@dataclass
class Sample:
    ids: list[str]
    texts: list[str]
    metadata: list[dict]
    vectors: np.ndarray
    queries: list[str]
    query_vectors: np.ndarray


@pytest.fixture(scope="session")
def sample() -> Sample:
    docs, vectors, queries, query_vectors = load_sample()
    return Sample(
        ids=[d["id"] for d in docs],
        texts=[f"{d['title']} {d['text']}" for d in docs],
        metadata=[{"pos": POS.get(d["id"][0], "other"), "lemmas": d["title"].count(",") + 1}
                  for d in docs],
        vectors=vectors, queries=[q["text"] for q in queries], query_vectors=query_vectors)


# The shipped model, as a user's server would embed with (an empty variable means unset).
SHIPPED_MODEL = {"LANCE_SPIRAL_APPROXIMATOR": ""}


@dataclass
class Running:
    server: ServerProcess
    db: Path
    log: Path

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=120)


def seed(client: httpx.Client, name: str, sample: Sample, n: int, **create: object) -> None:
    r = client.post("/collections", json={"name": name, "dim": 384, **create})
    assert r.status_code == 201, r.text
    for lo in range(0, n, 1000):
        hi = min(n, lo + 1000)
        r = client.post(f"/collections/{name}/add", json={
            "ids": sample.ids[lo:hi], "vectors": sample.vectors[lo:hi].tolist(),
            "texts": sample.texts[lo:hi], "metadata": sample.metadata[lo:hi]})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory, sample: Sample) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("server")
    db, log = root / "db", root / "server.log"
    srv = ServerProcess(db, api_key=API_KEY, log=log, args=["--max-body-mb", "16"],
                        env=SHIPPED_MODEL)
    srv.start()
    run = Running(server=srv, db=db, log=log)
    with run.client() as c:
        seed(c, "wordnet", sample, SEED_ROWS)
    try:
        yield run
    finally:
        srv.stop()


@pytest.fixture
def client(running: Running) -> Iterator[httpx.Client]:
    with running.client() as c:
        yield c
