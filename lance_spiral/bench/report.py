"""Codec benchmark output: a readable table, ``results.json`` and the recall-vs-bytes plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_table", "plot_recall_vs_bytes", "write_results"]

_COLUMNS = (
    ("system", "system", "{}"),
    ("codec", "codec", "{}"),
    ("bytes_per_vector", "B/vec", "{:.1f}"),
    ("param_bytes", "param B", "{:d}"),
    ("cos_mean", "cos", "{:.5f}"),
    ("cos_p01", "cos p01", "{:.4f}"),
    ("recall_at_10", "R@10", "{:.4f}"),
    ("recall_at_10_rerank", "R@10 rr", "{:.4f}"),
    ("encode_vps", "enc v/s", "{:,.0f}"),
    ("decode_vps", "dec v/s", "{:,.0f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Format benchmark rows as a fixed-width text table (one line per row).

    Args:
        rows: Result rows as written to ``results.json``.

    Returns:
        The table as a string (header, rule, rows).
    """
    cells = [[_cell(r.get(key), fmt) for key, _, fmt in _COLUMNS] for r in rows]
    heads = [h for _, h, _ in _COLUMNS]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]

    def line(items: Sequence[str]) -> str:
        pairs = enumerate(zip(items, widths, strict=True))
        return "  ".join(it.ljust(w) if i < 2 else it.rjust(w) for i, (it, w) in pairs)

    out = [line(heads), "  ".join("-" * w for w in widths)]
    out.extend(line(c) for c in cells)
    return "\n".join(out)


def write_results(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``result`` to ``out_dir/results.json`` (creating the folder).

    Returns:
        The path written.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(result, indent=2, allow_nan=False, default=_json_default) + "\n")
    return path


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def plot_recall_vs_bytes(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Plot recall@10 (on codes, and after re-ranking) against bytes per vector.

    Args:
        rows: Result rows.
        path: Output PNG path.
        title: Plot title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    styles = {"lance-spiral": ("tab:blue", "o"), "faiss": ("tab:orange", "s")}
    for system, (color, marker) in styles.items():
        sel = [r for r in rows if r.get("system") == system and r.get("recall_at_10") is not None]
        if not sel:
            continue
        xs = [float(r["bytes_per_vector"]) for r in sel]
        ax.scatter(xs, [float(r["recall_at_10"]) for r in sel], color=color, marker=marker,
                   label=f"{system}: codes only")
        rr = [r for r in sel if r.get("recall_at_10_rerank") is not None]
        ax.scatter([float(r["bytes_per_vector"]) for r in rr],
                   [float(r["recall_at_10_rerank"]) for r in rr], facecolors="none",
                   edgecolors=color, marker=marker, label=f"{system}: + re-rank")
        for r, x in zip(sel, xs, strict=True):
            ax.annotate(str(r["codec"]), (x, float(r["recall_at_10"])), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("bytes per vector (log)")
    ax.set_ylabel("recall@10")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
