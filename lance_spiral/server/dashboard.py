"""The dashboard at ``GET /``: one server-rendered page, no JS build step.

Per collection: rows, bytes per vector, disk vs float32, compression ratio, measured recall@10,
p50/p95/QPS (the numbers of ``GET /collections/{name}/quantization/stats``, each cell carrying
the exact value in ``data-value``), the recall-vs-bytes chart of the codecs tried
(:mod:`lance_spiral.server.chart`), and a search box. The only script is
``static/dashboard.js`` (the search box); the page is served with a Content-Security-Policy
that allows nothing else.
"""

from __future__ import annotations

from html import escape
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from lance_spiral.errors import NotFoundError
from lance_spiral.server.chart import chart_points, recall_bytes_svg
from lance_spiral.server.service import Service

__all__ = ["CSP", "STAT_CELLS", "add_routes", "format_stat", "render"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
       " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none';"
       " form-action 'self'")

# (stats key, label, kind)
STAT_CELLS: tuple[tuple[str, str, str], ...] = (
    ("rows", "rows", "int"),
    ("bytes_per_vector", "bytes per vector (stored)", "bytes"),
    ("code_bytes", "codec bytes per vector", "bytes"),
    ("disk_bytes", "on disk (all versions)", "bytes"),
    ("float32_bytes", "as float32", "bytes"),
    ("compression_ratio", "compression vs float32", "ratio"),
    ("resident_bytes", "resident in RAM", "bytes"),
    ("recall_at_10_estimate", "recall@10 (measured)", "recall"),
    ("p50_ms", "search p50", "ms"),
    ("p95_ms", "search p95", "ms"),
    ("qps", "queries/s (one client)", "qps"),
)

_STATIC = {"dashboard.js": "text/javascript; charset=utf-8",
           "dashboard.css": "text/css; charset=utf-8",
           "favicon.svg": "image/svg+xml"}


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"  # pragma: no cover - loop returns at GiB


def format_stat(value: Any, kind: str) -> str:
    """How the page shows a statistic (``—`` when it was not measured)."""
    if value is None:
        return "—"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "bytes":
        return f"{int(value):,} B" if value < 10_000 else f"{_human(float(value))}"
    if kind == "ratio":
        return f"{float(value):.2f}×"
    if kind == "recall":
        return f"{float(value):.4f}"
    if kind == "ms":
        return f"{float(value):.2f} ms"
    if kind == "qps":
        return f"{float(value):,.0f}"
    return escape(str(value))


def _cell_value(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _collection(name: str, stats: dict[str, Any], history: list[dict[str, Any]]) -> str:
    n = escape(name)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td data-stat="{key}"'
        f' data-value="{_cell_value(stats.get(key))}">{format_stat(stats.get(key), kind)}</td></tr>'
        for key, label, kind in STAT_CELLS)
    sub = (f'dim {stats.get("dim")} · {escape(str(stats.get("metric")))} ·'
           f' {escape(str(stats.get("mode")))} · codec <code>{escape(str(stats.get("codec")))}'
           f'</code>{" (provisional)" if stats.get("provisional") else ""} ·'
           f' version {stats.get("version")}')
    note = (f'recall measured on {stats.get("recall_sample", 0):,} of the collection\'s own'
            f' vectors ({stats.get("recall_queries", 0)} held-out queries) against exact search')
    chart = recall_bytes_svg(chart_points(history, stats.get("codec")),
                             title=f"recall@10 against code bytes per vector for {name}")
    return f"""
<section class="collection" id="c-{n}" data-collection="{n}">
  <h2>{n}</h2>
  <p class="sub">{sub}</p>
  <div class="panels">
    <table class="stats"><tbody>{rows}</tbody></table>
    <figure>{chart}<figcaption>codecs tried on this collection: {note}</figcaption></figure>
  </div>
  <form class="search" data-collection="{n}" autocomplete="off">
    <label>Search {n} <input type="search" name="q" required placeholder="type a query"></label>
    <label>k <input type="number" name="k" value="5" min="1" max="100"></label>
    <button type="submit">Search</button>
  </form>
  <p class="error" role="alert" hidden></p>
  <ol class="hits" aria-live="polite"></ol>
</section>"""


def render(service: Service) -> str:
    """The whole page."""
    parts = []
    names = service.catalog.names()
    for name in names:
        try:
            stats = service.stats(name)
            history = service.history(name)
        except NotFoundError:
            continue
        parts.append(_collection(name, stats, history))
    body = "".join(parts) or (
        '<p class="empty">No collections yet: <code>POST /collections</code> creates one.</p>')
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lance-spiral</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>lance-spiral</h1>
  <p>{len(names)} collection{"" if len(names) == 1 else "s"} ·
  <a href="/docs">API</a> · <a href="/metrics">metrics</a></p>
</header>
<main>{body}</main>
</body>
</html>"""


def add_routes(app: FastAPI, service: Service) -> None:
    """Register ``GET /`` and the page's static files."""
    files = resources.files("lance_spiral.server") / "static"

    @app.get("/", response_class=HTMLResponse, tags=["dashboard"])
    def dashboard() -> HTMLResponse:
        """The dashboard page."""
        return HTMLResponse(render(service), headers={
            "content-security-policy": CSP, "x-content-type-options": "nosniff",
            "cache-control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = _STATIC.get(name)
        if media is None:
            raise NotFoundError(f"no static file {name!r}")
        return Response((files / name).read_bytes(), media_type=media,
                        headers={"x-content-type-options": "nosniff"})
