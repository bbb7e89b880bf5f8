"""Quantisation routes against the running server: switch a live collection's codec while it
is searched, measured stats, and the optimiser (choose_codec on the collection's own vectors)."""

from __future__ import annotations

import threading

import httpx

from tests.server.conftest import Running, Sample, seed


def test_quantize_switches_codec_while_readers_search(client: httpx.Client, running: Running,
                                                      sample: Sample) -> None:
    seed(client, "live", sample, 1500)
    before = client.get("/collections/live/quantization/stats").json()
    assert before["codec"].startswith("sq:bits=8")
    errors: list[str] = []
    counts: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        with running.client() as c:
            i = 0
            while not stop.is_set():
                r = c.post("/collections/live/search",
                           json={"vector": sample.query_vectors[i % 100].tolist(), "k": 10})
                if r.status_code != 200:
                    errors.append(r.text)
                else:
                    counts.append(len(r.json()["results"]))
                i += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        r = client.post("/collections/live/quantize", json={"codec": "sq:bits=4"})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["previous_codec"].startswith("sq:bits=8") and body["codec"].startswith("sq:bits=4")
    assert body["version"] > before["version"]
    assert errors == [] and counts and set(counts) == {10}
    after = body["stats"]
    assert after["rows"] == 1500 and after["code_bytes"] == 192 < before["code_bytes"]
    assert 0.6 < after["recall_at_10_estimate"] < before["recall_at_10_estimate"]
    for bad, err in (({"codec": "sq:bits=3x"}, 400), ({}, 400),
                     ({"codec": "sq:bits=4", "target_recall": 0.9}, 400),
                     ({"target_recall": 1.5}, 400), ({"codec": "sq:bits=4", "mode": "alongside"},
                                                     400)):
        r = client.post("/collections/live/quantize", json=bad)
        assert r.status_code == err, (bad, r.text)
    assert client.get("/collections/live").json()["version"] == body["version"]


def test_optimize_applies_the_smallest_codec_meeting_the_target(client: httpx.Client,
                                                                sample: Sample) -> None:
    seed(client, "opt", sample, 1200)
    r = client.post("/collections/opt/quantization/optimize", json={
        "target_recall": 0.85, "candidates": ["sq:bits=2", "sq:bits=4", "sq:bits=8"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["met"] and body["recall"] >= 0.85
    tried = {c["spec"]: c for c in body["candidates"]}
    assert body["chosen"].startswith("sq:bits=4") and not tried["sq:bits=2"]["met"]
    assert body["stats"]["codec"] == body["chosen"] and body["sample_rows"] == 1200
    history = client.get("/collections/opt/quantization/history").json()["history"]
    assert {h["spec"].split(",")[0] for h in history} >= {"sq:bits=2", "sq:bits=4"}
    r = client.post("/collections/opt/quantization/optimize", json={"target_recall": 0})
    assert r.status_code == 400
    seed(client, "tiny", sample, 50)
    r = client.post("/collections/tiny/quantization/optimize", json={"target_recall": 0.9})
    assert r.status_code == 400 and "300 reference vectors" in r.json()["detail"]
