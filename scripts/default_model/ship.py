"""Turn a ``lance-spiral distill`` output folder into the shipped default model folder.

Keeps only what ``Approximator.load()`` needs on its fast path (``tables.safetensors``,
``head.onnx``, ``head.int8.onnx``, ``tokenizer.json``, ``config.json``) plus the sources'
notices (``SOURCES.md``); the whole folded graph ``model.onnx`` (used only with ``fast=False``)
and the training folder stay behind. Two size reductions, each measurable on its own:

- ``--derive-keys``: the context keys are stored as their map of the features
  (``context_key_weight``, read from the training checkpoint) and recomputed at load (format 4),
  instead of a k-byte row per vocabulary entry.
- ``--keep-mined F``: keep the first share F of each kind of mined entry (words by frequency,
  n-grams and skip-grams by score); a dropped entry's text falls back to shorter entries and
  word pieces. The network is unchanged: its rows for the kept entries are the trained ones.
- ``--half-logits``: the per-entry attention logits and context bias (4 + 4 floats per entry)
  are stored as float16; the loader reads them as float32 (16 bytes less per entry).

Run:
    python scripts/default_model/ship.py build/default_model/A build/default_model/ship \
        --derive-keys --keep-mined 0.85
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

PER_ENTRY = (
    "features",
    "row_scales",
    "logits",
    "context_bias",
    "context_keys",
    "context_key_row_scales",
)
KEY_TABLES = ("context_keys", "context_key_row_scales", "context_key_col_scales")


def keep_rows(kinds: list[str], share: float) -> np.ndarray:
    """Row ids kept: padding, every word piece, the first ``share`` of each mined kind."""
    keep = [i for i, k in enumerate(kinds) if k in ("pad", "piece")]
    for kind in ("word", "ngram", "skip"):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        keep += rows[: round(len(rows) * share)]
    return np.array(sorted(keep), dtype=np.int64)


def main() -> int:
    """Write the shipped folder and print its files' sizes."""
    from safetensors.numpy import load_file, save_file

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="folder written by lance-spiral distill")
    ap.add_argument("out", help="shipped folder (replaced)")
    ap.add_argument("--derive-keys", action="store_true", help="store the key map, not the keys")
    ap.add_argument("--keep-mined", type=float, default=1.0, help="share of mined entries kept")
    ap.add_argument("--no-int8-head", action="store_true", help="leave head.int8.onnx out")
    ap.add_argument(
        "--half-logits", action="store_true",
        help="store the per-entry attention logits and context bias as float16 (read as float32)",
    )
    args = ap.parse_args()
    src, out = Path(args.build), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tables = load_file(str(src / "tables.safetensors"))
    tok = json.loads((src / "tokenizer.json").read_text())
    cfg = json.loads((src / "config.json").read_text())
    facts: dict[str, object] = {"from": str(src)}
    if args.derive_keys and "context_keys" in tables:
        from lance_spiral.embed.approximator.context import derive_context_keys

        ckpt = load_file(str(src / "train" / "best.safetensors"))
        weight = ckpt["context_key.weight"].astype(np.float32)
        q, rows, cols = derive_context_keys(
            tables["features"],
            tables["row_scales"],
            tables["col_scales"],
            weight,
            key_col_scales=tables["context_key_col_scales"],
        )
        stored = tables["context_keys"] * tables["context_key_row_scales"][:, None]
        stored = stored * tables["context_key_col_scales"][None, :]
        derived = q * rows[:, None] * cols[None, :]
        num = (stored * derived).sum(1)
        den = np.linalg.norm(stored, axis=1) * np.linalg.norm(derived, axis=1)
        cos = num[1:] / np.maximum(den[1:], 1e-12)
        facts["derived_key_cosine_mean_min"] = [float(cos.mean()), float(cos.min())]
        for name in KEY_TABLES[:2]:  # the column scales stay: k floats, one product at load
            del tables[name]
        tables["context_key_weight"] = weight
        cfg["format_version"] = 4
    if args.keep_mined < 1.0:
        rows_kept = keep_rows(tok["kinds"], args.keep_mined)
        for name in PER_ENTRY:
            if name in tables:
                tables[name] = np.ascontiguousarray(tables[name][rows_kept])
        tok["kinds"] = [tok["kinds"][i] for i in rows_kept]
        tok["texts"] = [tok["texts"][i] for i in rows_kept]
        facts["kept_mined_share"] = args.keep_mined
    if args.half_logits:
        for name in ("logits", "context_bias"):
            if name in tables:
                tables[name] = tables[name].astype(np.float16)
        facts["half_logits"] = True
    facts["entries"] = len(tok["texts"])
    save_file(tables, str(out / "tables.safetensors"))
    (out / "tables.safetensors").chmod(0o644)  # safetensors writes 0600; the folder ships
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False, separators=(",", ":")))
    cfg["shipped"] = facts
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    heads = ["head.onnx"] + ([] if args.no_int8_head else ["head.int8.onnx"])
    for name in heads:
        shutil.copy2(src / name, out / name)
    here = Path(__file__).resolve().parent
    shutil.copy2(here / "SOURCES.md", out / "SOURCES.md")
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(
        json.dumps(
            {"facts": facts, "bytes": sizes, "total_mb": sum(sizes.values()) / 1e6}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
