"""The recall-vs-bytes chart of a collection, drawn on the server as inline SVG (no JS library).

One point per codec measured on the collection (its history), x = code bytes per vector on a
log2 axis, y = measured recall@10; the codec in use is drawn filled and labelled. Styling comes
from the dashboard's stylesheet (class names only), so the page needs no inline styles.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

__all__ = ["chart_points", "recall_bytes_svg", "short_spec"]

W, H = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 40


def short_spec(spec: str) -> str:
    """A codec spec without its defaults noise (metric and tuning knobs dropped)."""
    name, _, rest = spec.partition(":")
    keep = [p for p in rest.split(",") if p and p.split("=")[0] in (
        "bits", "m", "n_subspaces", "quantization_levels", "compression_ratio", "n_bits",
        "levels")]
    return name + (":" + ",".join(keep) if keep else "")


def chart_points(history: list[dict[str, Any]], current_spec: str | None
                 ) -> list[dict[str, Any]]:
    """The latest measurement of each codec spec, sorted by bytes."""
    latest: dict[str, dict[str, Any]] = {}
    for row in history:
        if row.get("recall_at_10") is None or not row.get("code_bytes"):
            continue
        latest[short_spec(str(row["spec"]))] = row
    pts = [{"label": label, "code_bytes": int(row["code_bytes"]),
            "recall": float(row["recall_at_10"]), "source": row.get("source"),
            "current": current_spec is not None and short_spec(current_spec) == label}
           for label, row in latest.items()]
    return sorted(pts, key=lambda p: (p["code_bytes"], p["recall"]))


def _ticks(lo: float, hi: float) -> list[int]:
    out, v = [], 1
    while v <= hi * 2:
        if lo / 2 <= v:
            out.append(v)
        v *= 2
    return out


def recall_bytes_svg(points: list[dict[str, Any]], *, title: str) -> str:
    """An SVG chart of ``points`` (from :func:`chart_points`)."""
    if not points:
        return ('<p class="empty-chart">No codec measured yet: add at least 60 rows through the'
                ' server, then open the stats or run an optimisation.</p>')
    xs = [p["code_bytes"] for p in points]
    ys = [p["recall"] for p in points]
    x_lo, x_hi = math.log2(min(xs)) - 0.5, math.log2(max(xs)) + 0.5
    y_lo = max(0.0, min(min(ys) - 0.02, 0.9))
    y_lo = math.floor(y_lo * 20) / 20
    y_hi = 1.0

    def sx(b: float) -> float:
        return LEFT + (math.log2(b) - x_lo) / (x_hi - x_lo) * (W - LEFT - RIGHT)

    def sy(r: float) -> float:
        return TOP + (y_hi - r) / (y_hi - y_lo) * (H - TOP - BOTTOM)

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"'
             f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    for t in _ticks(min(xs), max(xs)):
        if x_lo <= math.log2(t) <= x_hi:
            x = sx(t)
            parts.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}"'
                         f' y2="{H - BOTTOM}"/><text class="tick" x="{x:.1f}"'
                         f' y="{H - BOTTOM + 14}" text-anchor="middle">{t}</text>')
    steps = max(1, round((y_hi - y_lo) / 0.05))
    for i in range(steps + 1):
        r = y_lo + i * (y_hi - y_lo) / steps
        y = sy(r)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}"'
                     f' y2="{y:.1f}"/><text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}"'
                     f' text-anchor="end">{r:.2f}</text>')
    parts.append(f'<text class="axis" x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 6}"'
                 ' text-anchor="middle">code bytes per vector (log scale)</text>')
    parts.append(f'<text class="axis" x="12" y="{(TOP + H - BOTTOM) / 2:.0f}"'
                 f' text-anchor="middle" transform="rotate(-90 12 {(TOP + H - BOTTOM) / 2:.0f})">'
                 'recall@10</text>')
    line = " ".join(f"{sx(p['code_bytes']):.1f},{sy(p['recall']):.1f}" for p in points)
    parts.append(f'<polyline class="trend" points="{line}"/>')
    for p in points:
        cls = "point current" if p["current"] else "point"
        x, y = sx(p["code_bytes"]), sy(p["recall"])
        tip = f"{p['label']}: {p['code_bytes']} B/vector, recall@10 {p['recall']:.4f}"
        parts.append(f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="5"'
                     f' data-spec="{escape(p["label"])}"><title>{escape(tip)}</title></circle>')
        anchor = "end" if x > W - 120 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(f'<text class="label{" current" if p["current"] else ""}"'
                     f' x="{x + dx:.1f}" y="{y - 7:.1f}" text-anchor="{anchor}">'
                     f'{escape(p["label"])}</text>')
    parts.append("</svg>")
    return "".join(parts)
