"""The REST routes against a real `lance-spiral serve` (child process, 127.0.0.1, API key)."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lance_spiral.codecs.metrics import exact_topk, recall_at
from tests.server.conftest import API_KEY, SEED_ROWS, Running, Sample, seed

CONTRACT_ROUTES = {
    ("/collections", "get"), ("/collections", "post"), ("/collections/{name}", "get"),
    ("/collections/{name}", "delete"), ("/collections/{name}/add", "post"),
    ("/collections/{name}/search", "post"), ("/collections/{name}/rows", "delete"),
    ("/collections/{name}/quantize", "post"),
    ("/collections/{name}/quantization/stats", "get"),
    ("/collections/{name}/quantization/optimize", "post"), ("/metrics", "get"),
    ("/health", "get"),
}


def _state(client: httpx.Client, name: str) -> tuple[int, int]:
    info = client.get(f"/collections/{name}").json()
    return info["rows"], info["version"]


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    have = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert have >= CONTRACT_ROUTES
    assert "SearchBody" in spec["components"]["schemas"]


def test_key_needed_everywhere_but_health(running: Running) -> None:
    with running.client(key=None) as anon, running.client(key="wrong") as wrong:
        assert anon.get("/health").json()["status"] == "ok"
        for c in (anon, wrong):
            for method, path in (("GET", "/collections"), ("GET", "/"), ("GET", "/metrics"),
                                 ("POST", "/collections/wordnet/search"),
                                 ("GET", "/collections/wordnet/quantization/stats")):
                r = c.request(method, path, json={"vector": [0.0] * 384})
                assert r.status_code == 401, (method, path, r.text)
                assert r.headers["www-authenticate"].startswith("Bearer")
                assert API_KEY not in r.text


def test_collection_lifecycle(client: httpx.Client) -> None:
    r = client.post("/collections", json={"name": "tmp-c", "dim": 8, "metric": "l2",
                                          "codec": "sq:bits=4", "mode": "alongside"})
    assert r.status_code == 201, r.text
    assert r.json() | {"version": 0} == {
        "name": "tmp-c", "rows": 0, "dim": 8, "metric": "l2", "mode": "alongside",
        "codec": "sq:bits=4", "target_codec": "sq:bits=4", "version": 0, "columns": []}
    assert client.post("/collections", json={"name": "tmp-c", "dim": 8}).status_code == 409
    names = [c["name"] for c in client.get("/collections").json()["collections"]]
    assert {"tmp-c", "wordnet"} <= set(names)
    assert client.delete("/collections/tmp-c").json() == {"dropped": "tmp-c"}
    r = client.get("/collections/tmp-c")
    assert r.status_code == 404 and r.json()["error"] == "NotFoundError"
    assert "tmp-c" in r.json()["detail"]
    assert client.delete("/collections/tmp-c").status_code == 404


@pytest.mark.parametrize(("body", "status", "error", "words"), [
    ({"name": "../x", "dim": 8}, 400, "InvalidInputError", "collection name"),
    ({"name": "ok1", "dim": 8, "codec": "nope:bits=3"}, 400, "UnknownCodecError", "nope"),
    ({"name": "ok1", "dim": 8, "metric": "hamming"}, 400, "InvalidParameterError", "metric"),
    ({"name": "ok1", "dim": 8, "mode": "weird"}, 400, "InvalidParameterError", "mode"),
    ({"name": "ok1", "dim": 0}, 422, "ValidationError", "dim"),
    ({"name": "ok1", "dim": 8, "colour": "red"}, 422, "ValidationError", "colour"),
])
def test_create_refuses_bad_input(client: httpx.Client, body: dict, status: int, error: str,
                                  words: str) -> None:
    r = client.post("/collections", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and words in r.json()["detail"]
    assert "ok1" not in [c["name"] for c in client.get("/collections").json()["collections"]]


def test_search_by_vector_and_text_with_filter(client: httpx.Client, sample: Sample) -> None:
    q = sample.query_vectors[0]
    r = client.post("/collections/wordnet/search", json={"vector": q.tolist(), "k": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["took_ms"] > 0 and len(body["results"]) == 10
    hit = body["results"][0]
    assert set(hit) == {"id", "score", "metadata", "text"}
    assert set(hit["metadata"]) == {"pos", "lemmas"}
    i = sample.ids.index(hit["id"])
    assert hit["text"] == sample.texts[i] and hit["metadata"] == sample.metadata[i]
    truth = exact_topk(sample.vectors[:SEED_ROWS], q[None, :], 10, metric="cosine")[0]
    found = [sample.ids.index(h["id"]) for h in body["results"]]
    assert recall_at(np.array([found]), truth[None, :], 10) >= 0.8
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)

    flt = {"pos": {"$in": ["noun", "verb"]}, "lemmas": {"$gte": 3}}
    hits = client.post("/collections/wordnet/search", json={
        "vector": q.tolist(), "k": 5, "filter": flt}).json()["results"]
    ok = [i for i, m in enumerate(sample.metadata[:SEED_ROWS]) if m["lemmas"] >= 3]
    assert len(ok) > 50 and len(hits) == 5
    assert all(h["metadata"]["lemmas"] >= 3 for h in hits)
    truth = np.array(ok)[exact_topk(sample.vectors[ok], q[None, :], 5, metric="cosine")[0]]
    found = [sample.ids.index(h["id"]) for h in hits]
    assert len(set(found) & set(truth.tolist())) >= 4

    text = sample.texts[7]
    by_text = client.post("/collections/wordnet/search", json={"text": text, "k": 5}).json()
    assert sample.ids[7] in [h["id"] for h in by_text["results"]]


def test_add_texts_get_and_delete_rows(client: httpx.Client, sample: Sample) -> None:
    seed(client, "notes", sample, 0)
    texts = sample.texts[2500:2600]
    r = client.post("/collections/notes/add", json={
        "texts": texts, "metadata": [{"k": i % 3} for i in range(100)]})
    assert r.status_code == 200, r.text
    ids = r.json()["ids"]
    assert r.json()["added"] == 100 and len(set(ids)) == 100
    got = client.post("/collections/notes/get", json={"ids": [*ids[:3], "missing"]}).json()
    assert [row["id"] for row in got["rows"]] == ids[:3]
    assert got["rows"][0]["text"] == texts[0] and got["rows"][0]["metadata"] == {"k": 0}
    hits = client.post("/collections/notes/search", json={"text": texts[3], "k": 3}).json()
    assert ids[3] in [h["id"] for h in hits["results"]]

    r = client.request("DELETE", "/collections/notes/rows", json={"ids": ids[:10]})
    assert r.json()["deleted"] == 10
    r = client.request("DELETE", "/collections/notes/rows", json={"filter": {"k": 1}})
    assert r.json()["deleted"] == sum(1 for i in range(10, 100) if i % 3 == 1)
    rows, _ = _state(client, "notes")
    assert rows == 90 - sum(1 for i in range(10, 100) if i % 3 == 1)
    for body in ({}, {"filter": {}}, {"ids": ids[:1], "filter": {"k": 0}}):
        assert client.request("DELETE", "/collections/notes/rows", json=body).status_code == 400
    assert _state(client, "notes")[0] == rows
    client.delete("/collections/notes")


BAD_ADDS = [
    ({"vectors": [[0.1] * 383]}, 400, "DimensionError", "383"),
    ({"vectors": [[0.1] * 384], "ids": ["SEEDED"]}, 409, "TableError", "SEEDED"),
    ({"vectors": [[0.1] * 384] * 2, "ids": ["a", "a"]}, 400, "InvalidInputError", "duplicate"),
    ({"vectors": [[0.1] * 384], "metadata": [{"colour": "red"}]}, 400, "InvalidInputError",
     "colour"),
    ({"vectors": [[0.1] * 384], "metadata": [{"lemmas": "many"}]}, 400, "InvalidInputError",
     "lemmas"),
    ({"vectors": [[0.1] * 384], "metadata": [{"pos": {"nested": 1}}]}, 400, "DTypeError",
     "pos"),
    ({"vectors": [[0.1] * 384], "metadata": [{"_x": 1}]}, 400, "InvalidInputError", "_x"),
    ({"vectors": [[0.1] * 384], "texts": ["a", "b"]}, 400, "InvalidInputError", "texts"),
    ({}, 400, "InvalidInputError", "vectors or texts"),
    ({"vectors": [["x"] * 384]}, 422, "ValidationError", "vectors"),
]


@pytest.mark.parametrize(("body", "status", "error", "words"), BAD_ADDS)
def test_bad_adds_are_4xx_and_write_nothing(client: httpx.Client, sample: Sample, body: dict,
                                            status: int, error: str, words: str) -> None:
    if body.get("ids") == ["SEEDED"]:
        body, words = {**body, "ids": [sample.ids[5]]}, sample.ids[5]
    before = _state(client, "wordnet")
    r = client.post("/collections/wordnet/add", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and words in r.json()["detail"], r.json()
    assert _state(client, "wordnet") == before


def test_concurrent_adds_of_one_id_write_it_once(running: Running, client: httpx.Client,
                                                 sample: Sample) -> None:
    before = _state(client, "wordnet")[0]
    codes: list[int] = []

    def add(i: int) -> None:
        with running.client() as c:
            codes.append(c.post("/collections/wordnet/add", json={
                "ids": ["racing-id"], "vectors": [sample.vectors[2500 + i].tolist()]}
            ).status_code)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409, 409, 409]
    assert _state(client, "wordnet")[0] == before + 1
    r = client.request("DELETE", "/collections/wordnet/rows", json={"ids": ["racing-id"]})
    assert r.json()["deleted"] == 1


def test_nan_wrong_dim_unknown_collection_and_huge_body(client: httpx.Client) -> None:
    before = _state(client, "wordnet")
    nan = '{"vectors": [[' + ", ".join(["NaN"] + ["0.5"] * 383) + "]]}"
    r = client.post("/collections/wordnet/add", content=nan,
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "NonFiniteError", r.text
    r = client.post("/collections/wordnet/search", content=nan.replace("vectors", "vector")
                    .replace("[[", "[").replace("]]", "]"),
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "NonFiniteError", r.text
    r = client.post("/collections/wordnet/search", json={"vector": [0.1] * 10})
    assert r.status_code == 400 and "dimension 10" in r.json()["detail"]
    r = client.post("/collections/nope/search", json={"vector": [0.1] * 384})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    big = json.dumps({"vectors": [[0.123456789] * 384] * 4000})
    assert len(big) > 16 * 1024 * 1024
    r = client.post("/collections/wordnet/add", content=big,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while the body streams
        for i in range(0, len(big), 1 << 20):
            yield big[i:i + (1 << 20)].encode()

    r = client.post("/collections/wordnet/add", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    for body in ({"vector": [0.1] * 384, "filter": "pos = 'noun'"},
                 {"vector": [0.1] * 384, "k": 0},
                 {"vector": [0.1] * 384, "text": "both"}):
        r = client.post("/collections/wordnet/search", json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
    r = client.post("/collections/wordnet/search",
                    json={"vector": [0.1] * 384, "filter": {"pos": {"$regex": "n.*"}}})
    assert r.status_code == 400 and "$regex" in r.json()["detail"]
    r = client.post("/collections/wordnet/search",
                    json={"vector": [0.1] * 384, "filter": {"nope": 1}})
    assert r.status_code == 400 and "nope" in r.json()["detail"]
    assert _state(client, "wordnet") == before


def test_stats_measured_against_exact_search_and_cached(client: httpx.Client,
                                                        sample: Sample) -> None:
    stats = client.get("/collections/wordnet/quantization/stats").json()
    assert stats["rows"] == SEED_ROWS and stats["dim"] == 384
    assert stats["float32_bytes"] == SEED_ROWS * 384 * 4
    assert stats["code_bytes"] == 384 and stats["bytes_per_vector"] == 384 + 48 + 4
    assert stats["compression_ratio"] == pytest.approx(4 * 384 / stats["bytes_per_vector"],
                                                       abs=1e-3)
    assert stats["disk_bytes"] > 0 and stats["resident_bytes"] > 0
    assert stats["recall_sample"] == SEED_ROWS and stats["recall_queries"] == 200
    # sq:bits=8 on real embeddings: codes rank almost exactly like floats
    assert 0.97 <= stats["recall_at_10_estimate"] <= 1.0
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] and stats["qps"] > 0
    again = client.get("/collections/wordnet/quantization/stats").json()
    assert again == stats


def test_metrics_in_prometheus_format(client: httpx.Client) -> None:
    client.post("/collections/wordnet/search", json={"vector": [0.1] * 384, "k": 1})
    client.get("/collections/wordnet/quantization/stats")
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    reqs = families["lance_spiral_http_requests"].samples
    assert any(s.labels["route"] == "/collections/{name}/search" and s.labels["status"] == "200"
               and s.value >= 1 for s in reqs)
    rows = {s.labels["collection"]: s.value
            for s in families["lance_spiral_collection_rows"].samples}
    assert rows["wordnet"] == SEED_ROWS
    recall = families["lance_spiral_collection_recall_at_10"].samples
    assert any(s.labels["collection"] == "wordnet" and 0.9 < s.value <= 1 for s in recall)
    assert "lance_spiral_http_request_duration_seconds" in families
