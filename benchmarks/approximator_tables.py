"""How much the int8 fast-path table changes an approximator's embeddings.

Folds the build's checkpoint (``train/best.safetensors`` + ``train/vocab``) again into float32
tables and embeds the same texts three ways with the same tokeniser, pooling kernel and ONNX
head: the served int8 table (row and column scales), a float16 table (the format-1 export) and
the float32 table (a context pass's key and value tables likewise). Reports, against float32,
the mean and minimum cosine of the embeddings and each variant's mean cosine to the teacher,
plus the table sizes.

Run (from the repository root; needs the ``train`` extra for torch):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/approximator_tables.py build/approximator

Texts: the SciFact corpus and queries in the shared data, whose teacher embeddings are stored.
Writes ``--out`` (default build/approximator_tables.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.embed.approximator import Approximator
from lance_spiral.errors import NotFoundError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def float_tables(model_dir: Path) -> dict[str, np.ndarray]:
    """The float32 tables folded from the build's checkpoint, by name (``features``...)."""
    from safetensors.torch import load_file

    from lance_spiral.train.mining import Vocabulary
    from lance_spiral.train.student import StudentConfig, build_student

    ckpt = model_dir / "train" / "best.safetensors"
    if not ckpt.is_file():
        raise NotFoundError(f"no checkpoint at {ckpt} (a folder written by lance-spiral distill)")
    vocab = Vocabulary.load(model_dir / "train" / "vocab")
    meta = json.loads((model_dir / "config.json").read_text())
    student = build_student(StudentConfig(**meta["model"]), vocab.embeddings)
    student.load_state_dict(load_file(str(ckpt)))
    student.eval()
    return {name: table.astype(np.float32) for name, table in student.fold().items()}


def _with_tables(served: Approximator, tables: dict[str, np.ndarray], dtype: str) -> Approximator:
    """A copy of ``served`` whose per-entry tables are ``tables`` rounded through ``dtype``."""
    from dataclasses import replace

    other = Approximator.load(served.directory, cache_size=0)
    t = {name: table.astype(dtype).astype(np.float32) for name, table in tables.items()}
    other._tables, other._scales = (t["features"], tables["logits"]), None
    if served._context is not None:
        values = t.get("context_values", t["features"])
        ones = (np.ones(len(values), np.float32), np.ones(values.shape[1], np.float32))
        keys = t["context_keys"]
        other._context = replace(
            served._context,
            keys=keys,
            key_scales=(np.ones(len(keys), np.float32), np.ones(keys.shape[1], np.float32)),
            values=values,
            value_scales=ones,
        )
    return other


def compare(model_dir: Path, texts: list[str], teacher: np.ndarray) -> dict[str, Any]:
    """Embed ``texts`` with the served, float16 and float32 tables; cosines and sizes."""
    served = Approximator.load(model_dir, cache_size=0)
    if served._tables is None or served._scales is None or served._tables[0].dtype != np.int8:
        raise NotFoundError(f"{model_dir} has no int8 tables (format 1): re-export it")
    tables = float_tables(model_dir)
    variants: dict[str, np.ndarray] = {"int8": served.embed(texts)}
    int8_mb = served._tables[0].nbytes + sum(x.nbytes for x in served._scales)
    if served._context is not None:
        c = served._context
        int8_mb += c.keys.nbytes + sum(x.nbytes for x in c.key_scales)
        if c.values is not served._tables[0]:
            int8_mb += c.values.nbytes + sum(x.nbytes for x in c.value_scales)
    tables_mb = {"int8": int8_mb / 1e6}
    quantised = ("features", "context_keys", "context_values")
    for name in ("float16", "float32"):
        variants[name] = _with_tables(served, tables, name).embed(texts)
        width = 2 if name == "float16" else 4
        tables_mb[name] = sum(tables[k].size * width for k in quantised if k in tables) / 1e6
    ref = variants["float32"]
    out: dict[str, Any] = {"model": str(model_dir), "texts": len(texts), "tables_mb": tables_mb}
    for name, vec in variants.items():
        cos = (vec * ref).sum(1)
        out[name] = {
            "cosine_to_float32_mean": float(cos.mean()),
            "cosine_to_float32_min": float(cos.min()),
            "cosine_to_teacher": float((vec * teacher).sum(1).mean()),
        }
    return out


def scifact_texts() -> tuple[list[str], list[str]]:
    """The shared SciFact abstracts (title + text) and queries, in file order."""
    sci = DATA / "scifact"
    docs = [json.loads(x) for x in (sci / "corpus.jsonl").read_text("utf-8").splitlines() if x]
    queries = [json.loads(x) for x in (sci / "queries.jsonl").read_text("utf-8").splitlines() if x]
    return [f"{d.get('title', '')} {d.get('text', '')}".strip() for d in docs], [
        q["text"] for q in queries
    ]


def save(result: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Print ``result`` and write it to ``out`` as JSON."""
    print(json.dumps(result, indent=2))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="approximator folder written by lance-spiral distill")
    ap.add_argument("--max-texts", type=int, default=None, help="cap corpus + query texts")
    ap.add_argument("--out", default=str(ROOT / "build" / "approximator_tables.json"))
    args = ap.parse_args(argv)
    sci = DATA / "scifact"
    docs, queries = scifact_texts()
    texts = docs + queries
    teacher = np.concatenate([np.load(sci / "corpus_emb.npy"), np.load(sci / "query_emb.npy")])
    if args.max_texts is not None:
        texts, teacher = texts[: args.max_texts], teacher[: args.max_texts]
    return save(compare(Path(args.model), texts, teacher.astype(np.float32)), args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
