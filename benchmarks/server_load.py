"""Bounded load test of `lance-spiral serve` on 127.0.0.1: concurrent clients, mixed search/add.

Run (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/server_load.py

It starts the server in a child process (a fresh database in a temporary folder, an API key),
seeds a collection with the bundled WordNet sample (real 384-d embeddings), measures a single
client's search latency, then lets LOAD_CLIENTS clients send LOAD_REQUESTS requests in total
(adds with probability LOAD_ADD_SHARE, searches otherwise) and stops by itself when they are
sent or LOAD_DEADLINE seconds have passed. Afterwards it checks that no row was lost: the row
count equals the seed plus every acknowledged add, and every id is found. Prints and writes a
JSON report.

Environment variables:
    LOAD_CLIENTS    concurrent clients (default 32)
    LOAD_REQUESTS   requests in total (default 20000)
    LOAD_ADD_SHARE  share of requests that add rows (default 0.1)
    LOAD_ADD_ROWS   rows per add (default 4)
    LOAD_SEED_ROWS  rows before the load, at most 3000 (default 3000)
    LOAD_SINGLE     sequential searches of the single-client baseline (default 500)
    LOAD_DEADLINE   seconds after which clients stop sending (default 1200)
    LOAD_OUT        JSON report (default docs/bench/server/load.json)
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from lance_spiral.sample import load_sample
from lance_spiral.server.launch import ServerProcess

ROOT = Path(__file__).resolve().parents[1]


def _pct(ms: list[float]) -> dict[str, Any]:
    if not ms:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None}
    a = np.asarray(ms)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3), "mean_ms": round(float(a.mean()), 3)}


def _seed(client: httpx.Client, name: str, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    docs, vectors, _, query_vectors = load_sample()
    n = min(n, len(docs))
    ids = [d["id"] for d in docs[:n]]
    r = client.post("/collections", json={"name": name, "dim": int(vectors.shape[1])})
    r.raise_for_status()
    for lo in range(0, n, 1000):
        r = client.post(f"/collections/{name}/add", json={
            "ids": ids[lo:lo + 1000], "vectors": vectors[lo:min(n, lo + 1000)].tolist()})
        r.raise_for_status()
    return ids, vectors, query_vectors


def _single(client: httpx.Client, name: str, queries: np.ndarray, n: int) -> dict[str, Any]:
    ms = []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.post(f"/collections/{name}/search",
                        json={"vector": queries[i % len(queries)].tolist(), "k": 10})
        ms.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return _pct(ms)


async def _load(url: str, headers: dict[str, str], name: str, vectors: np.ndarray,
                queries: np.ndarray, *, clients: int, requests: int, add_share: float,
                add_rows: int, deadline: float) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    is_add = rng.random(requests) < add_share
    noise = np.random.default_rng(1)
    next_i = iter(range(requests))
    lat: dict[str, list[float]] = {"search": [], "add": []}
    errors: list[str] = []
    acked: list[str] = []
    stop_at = time.monotonic() + deadline

    async def worker(client: httpx.AsyncClient) -> None:
        for i in next_i:
            if time.monotonic() > stop_at:
                return
            if is_add[i]:
                ids = [f"load-{i}-{j}" for j in range(add_rows)]
                base = vectors[rng.integers(0, len(vectors), add_rows)]
                x = base + noise.normal(0, 0.01, base.shape).astype(np.float32)
                path, body, op = f"/collections/{name}/add", {
                    "ids": ids, "vectors": x.tolist()}, "add"
            else:
                path, body, op = f"/collections/{name}/search", {
                    "vector": queries[i % len(queries)].tolist(), "k": 10}, "search"
            t0 = time.perf_counter()
            try:
                r = await client.post(path, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"{op}: {type(exc).__name__}: {exc}")
                continue
            lat[op].append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                errors.append(f"{op}: HTTP {r.status_code}: {r.text[:200]}")
            elif op == "add":
                acked.extend(r.json()["ids"])

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    wall = time.perf_counter() - t0
    done = len(lat["search"]) + len(lat["add"])
    return {"requests_sent": done + sum(1 for e in errors if "HTTP" not in e),
            "responses": done, "errors": len(errors), "error_samples": errors[:5],
            "wall_s": round(wall, 2), "throughput_rps": round(done / wall, 1),
            "search": _pct(lat["search"]), "add": _pct(lat["add"]),
            "all": _pct(lat["search"] + lat["add"]), "acked_ids": acked}


def _verify(client: httpx.Client, name: str, seed_ids: list[str], acked: list[str]
            ) -> dict[str, Any]:
    rows = client.get(f"/collections/{name}").json()["rows"]
    want = seed_ids + acked
    found = 0
    for lo in range(0, len(want), 2000):
        chunk = want[lo:lo + 2000]
        got = client.post(f"/collections/{name}/get", json={"ids": chunk}).json()["rows"]
        found += len({g["id"] for g in got} & set(chunk))
    return {"rows_expected": len(want), "rows_in_table": rows, "ids_found": found,
            "ids_unique": len(set(want)) == len(want),
            "ok": rows == len(want) == found}


def measure(url: str, headers: dict[str, str], *, collection: str = "load", clients: int = 32,
            requests: int = 20000, add_share: float = 0.1, add_rows: int = 4,
            seed_rows: int = 3000, single: int = 500, deadline: float = 1200.0
            ) -> dict[str, Any]:
    """Seed ``collection`` on a running server, measure one client, then the load, then check."""
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        seed_ids, vectors, queries = _seed(client, collection, seed_rows)
        baseline = _single(client, collection, queries, single)
        load = asyncio.run(_load(url, headers, collection, vectors, queries, clients=clients,
                                 requests=requests, add_share=add_share, add_rows=add_rows,
                                 deadline=deadline))
        verify = _verify(client, collection, seed_ids, load.pop("acked_ids"))
    return {
        "command": "nice -n 10 .venv/bin/python benchmarks/server_load.py",
        "config": {"clients": clients, "requests": requests, "add_share": add_share,
                   "add_rows": add_rows, "seed_rows": len(seed_ids), "k": 10,
                   "codec": "sq:bits=8", "deadline_s": deadline},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()]},
        "single_client_search": baseline, "load": load, "verify": verify,
    }


def run(work_dir: str | Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Start a server on a fresh database (with an API key) and :func:`measure` it."""
    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp, \
            ServerProcess(Path(tmp) / "db", api_key=key, log=Path(tmp) / "server.log",
                          env={"HF_HUB_OFFLINE": "1"}) as srv:
        return measure(srv.url, {"authorization": f"Bearer {key}"}, **kwargs)


def main() -> int:
    env = os.environ
    report = run(clients=int(env.get("LOAD_CLIENTS", 32)),
                 requests=int(env.get("LOAD_REQUESTS", 20000)),
                 add_share=float(env.get("LOAD_ADD_SHARE", 0.1)),
                 add_rows=int(env.get("LOAD_ADD_ROWS", 4)),
                 seed_rows=int(env.get("LOAD_SEED_ROWS", 3000)),
                 single=int(env.get("LOAD_SINGLE", 500)),
                 deadline=float(env.get("LOAD_DEADLINE", 1200)))
    out = Path(env.get("LOAD_OUT", ROOT / "docs" / "bench" / "server" / "load.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0 if report["load"]["errors"] == 0 and report["verify"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
