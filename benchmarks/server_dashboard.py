"""The README's dashboard screenshot: a real server, real data, a real headless Chromium.

Run (from the repository root; needs the [server] extra, playwright and Debian's chromium)::

    nice -n 10 .venv/bin/python benchmarks/server_dashboard.py

It starts ``lance-spiral serve`` on a fresh database, adds the bundled WordNet sample (3,000
glosses with their real 384-d embeddings) to two collections, lets the optimiser try codecs on
one (``quantization/optimize``, target recall@10 0.95) and re-encodes the other with
``pq:m=48``, types a query into the first search box and saves a full-page screenshot.

Environment variables:
    DASHBOARD_OUT    screenshot path (default docs/img/dashboard.png)
    DASHBOARD_QUERY  text typed into the search box (default "a large natural stream of water")
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import httpx

from lance_spiral.sample import load_sample
from lance_spiral.server.launch import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import chromium_page  # noqa: E402

CANDIDATES = ["binary", "pq:m=24", "pq:m=48", "sq:bits=4", "pq:m=96", "sq:bits=8", "float16"]


def _fill(client: httpx.Client, name: str) -> None:
    docs, vectors, _, _ = load_sample()
    client.post("/collections", json={"name": name, "dim": 384}).raise_for_status()
    for lo in range(0, len(docs), 1000):
        part = docs[lo:lo + 1000]
        client.post(f"/collections/{name}/add", json={
            "ids": [d["id"] for d in part], "vectors": vectors[lo:lo + len(part)].tolist(),
            "texts": [f"{d['title']}: {d['text']}" for d in part],
            "metadata": [{"lemmas": d["title"].count(",") + 1} for d in part],
        }).raise_for_status()


def main() -> int:
    out = Path(os.environ.get("DASHBOARD_OUT", ROOT / "docs" / "img" / "dashboard.png"))
    query = os.environ.get("DASHBOARD_QUERY", "a large natural stream of water")
    with tempfile.TemporaryDirectory() as tmp, \
            ServerProcess(Path(tmp) / "db", log=Path(tmp) / "server.log") as srv, \
            httpx.Client(base_url=srv.url, timeout=600) as client:
        _fill(client, "glosses")
        _fill(client, "glosses-pq")
        client.post("/collections/glosses/quantization/optimize", json={
            "target_recall": 0.95, "candidates": CANDIDATES}).raise_for_status()
        client.post("/collections/glosses-pq/quantize",
                    json={"codec": "pq:m=48"}).raise_for_status()
        with chromium_page(Path(tmp) / "profile", width=1280, height=1000) as page:
            page.goto(srv.url + "/", wait_until="networkidle")
            box = page.locator('section[data-collection="glosses"]')
            box.locator('input[name="q"]').fill(query)
            box.locator('button[type="submit"]').click()
            box.locator("ol.hits li.hit").first.wait_for(timeout=60_000)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
