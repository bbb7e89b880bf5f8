"""A server killed (SIGKILL) while adding rows: after a restart the collection is the last
committed version, searchable, with every acknowledged row and no half-written one."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from lance_spiral.server.launch import ServerProcess
from tests.server.conftest import Sample, seed

BATCH = 500
LAST = 12  # the third add is this many batches: the kill lands inside it even when most of a
           # small add is fixed cost (commit, state update) rather than work per row


def _body(sample: Sample, i: int, n: int) -> tuple[list[str], bytes]:
    ids = [f"kill-{i}-{j}" for j in range(n)]
    rng = np.random.default_rng(i)
    x = sample.vectors[rng.integers(0, len(sample.vectors), n)]
    x = x + rng.normal(0, 0.01, x.shape).astype(np.float32)
    return ids, json.dumps({"ids": ids, "vectors": x.tolist()}).encode()


def test_sigkill_mid_add_leaves_the_last_commit(tmp_path: Path, sample: Sample) -> None:
    db = tmp_path / "db"
    srv = ServerProcess(db, log=tmp_path / "server.log").start()
    acked: list[list[str]] = []
    took: list[float] = []
    sent: list[list[str]] = []
    failure: list[BaseException] = []
    # two adds that complete, then a much larger one that the kill cuts
    bodies = [_body(sample, i, n) for i, n in enumerate((BATCH, BATCH, LAST * BATCH))]
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            seed(c, "k", sample, 1000)

        def writer() -> None:
            with httpx.Client(base_url=srv.url, timeout=120) as c:
                for ids, body in bodies:
                    sent.append(ids)
                    t0 = time.perf_counter()
                    try:
                        r = c.post("/collections/k/add", content=body,
                                   headers={"content-type": "application/json"})
                    except httpx.HTTPError as exc:
                        failure.append(exc)
                        return
                    r.raise_for_status()
                    took.append(time.perf_counter() - t0)
                    acked.append(ids)

        thread = threading.Thread(target=writer)
        thread.start()
        while len(acked) < 2 and thread.is_alive():
            time.sleep(0.01)
        assert len(acked) == 2, failure
        while len(sent) < 3:
            time.sleep(0.001)
        time.sleep(0.6 * 4 * float(np.mean(took)))  # well inside the third add's work
        srv.kill()
        thread.join(60)
        assert failure, "the third add should have been cut off by the kill"
    finally:
        srv.kill()

    with ServerProcess(db, log=tmp_path / "server2.log") as again, \
            httpx.Client(base_url=again.url, timeout=120) as c:
        rows = c.get("/collections/k").json()["rows"]
        committed = 1000 + BATCH * len(acked)
        assert rows in (committed, committed + LAST * BATCH)  # the cut add: all of it or none
        want = [i for ids in acked for i in ids] + sample.ids[:1000]
        if rows > committed:
            want += sent[2]
        got = c.post("/collections/k/get", json={"ids": want}).json()["rows"]
        assert len({g["id"] for g in got}) == len(want) == rows
        hits = c.post("/collections/k/search",
                      json={"vector": sample.query_vectors[0].tolist(), "k": 10}).json()
        assert len(hits["results"]) == 10
        more = c.post("/collections/k/add", json={"ids": ["after"],
                                                  "vectors": [sample.vectors[0].tolist()]})
        assert more.status_code == 200
        assert c.get("/collections/k").json()["rows"] == rows + 1
