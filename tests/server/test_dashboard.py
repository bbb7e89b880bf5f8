"""The dashboard in a real headless Chromium against the running server.

Set LANCE_SPIRAL_SCREENSHOT=path.png to keep the screenshot (docs/img/dashboard.png comes from
benchmarks/server_dashboard.py, which builds a richer database first).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from lance_spiral.server.dashboard import STAT_CELLS, format_stat
from tests.server.conftest import API_KEY, Running, Sample
from tests.support.browser import chromium_page


def test_page_shows_the_stats_and_searches(running: Running, client: httpx.Client,
                                           sample: Sample, tmp_path: Path) -> None:
    problems: list[str] = []
    with chromium_page(tmp_path / "profile",
                       headers={"authorization": f"Bearer {API_KEY}"}) as page:
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)
        response = page.goto(running.server.url + "/", wait_until="networkidle")
        assert response is not None and response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]

        stats = client.get("/collections/wordnet/quantization/stats").json()
        section = page.locator('section[data-collection="wordnet"]')
        assert section.locator("h2").inner_text() == "wordnet"
        for key, _, kind in STAT_CELLS:
            cell = section.locator(f'td[data-stat="{key}"]')
            value = stats[key]
            assert cell.get_attribute("data-value") == ("" if value is None else str(value)), key
            assert cell.inner_text() == format_stat(value, kind), key
        assert stats["recall_at_10_estimate"] is not None and stats["p50_ms"] is not None
        assert section.locator("svg.chart circle.point.current").count() == 1

        query = sample.texts[21]
        section.locator('input[name="q"]').fill(query)
        section.locator('button[type="submit"]').click()
        hits = section.locator("ol.hits li.hit")
        hits.first.wait_for(timeout=30_000)
        assert hits.count() == 5
        ids = [hits.nth(i).locator(".hit-id").inner_text() for i in range(hits.count())]
        expected = client.post("/collections/wordnet/search",
                               json={"text": query, "k": 5}).json()["results"]
        assert ids == [h["id"] for h in expected] and sample.ids[21] in ids
        assert hits.first.locator(".hit-text").inner_text() == expected[0]["text"]
        assert section.locator(".error").is_hidden()

        assert problems == []

        # a refused search is shown on the page (the box's own max is lifted to get one)
        k_box = section.locator('input[name="k"]')
        k_box.evaluate("el => el.removeAttribute('max')")
        k_box.fill("5000")
        with page.expect_response(lambda r: r.url.endswith("/search")) as refused:
            section.locator('button[type="submit"]').click()
        assert refused.value.status == 422
        section.locator(".error").wait_for(state="visible")
        assert section.locator(".error").inner_text().startswith("ValidationError: body.k")

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("LANCE_SPIRAL_SCREENSHOT"):
            page.screenshot(path=os.environ["LANCE_SPIRAL_SCREENSHOT"], full_page=True)
