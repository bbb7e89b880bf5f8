"""Test helpers: a tiny approximator trained in seconds on real shared-data texts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lance_spiral.errors import InvalidParameterError, NotFoundError

__all__ = ["shared_data_dir", "tiny_approximator", "wordnet_pairs"]


def shared_data_dir() -> Path:
    """``$LANCE_SPIRAL_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("LANCE_SPIRAL_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def wordnet_pairs(
    n: int, *, offset: int = 0, data_dir: str | Path | None = None
) -> tuple[list[str], np.ndarray]:
    """``n`` WordNet texts (every k-th synset, for variety) and their teacher embeddings.

    Args:
        n: Number of texts.
        offset: Shift of the sampling grid (use different offsets for disjoint sets).
        data_dir: Shared data folder (default :func:`shared_data_dir`).

    Returns:
        ``(texts, float32 [n, 384])``.

    Raises:
        NotFoundError: If the shared data is missing.
        InvalidParameterError: If ``n`` is out of range.
    """
    d = Path(data_dir) if data_dir is not None else shared_data_dir()
    f, e = d / "wordnet" / "texts.jsonl", d / "wordnet" / "emb_f16.npy"
    if not f.is_file() or not e.is_file():
        raise NotFoundError(f"WordNet shared data not found under {d}")
    lines = f.read_text(encoding="utf-8").splitlines()
    if not 1 <= n <= len(lines) // 4:
        raise InvalidParameterError(f"n must be in [1, {len(lines) // 4}], got {n}")
    stride = len(lines) // n
    rows = np.arange(n) * stride + (offset % stride)
    recs = [json.loads(lines[i]) for i in rows]
    texts = [f"{r['title']} {r['text']}" for r in recs]
    emb = np.asarray(np.load(e, mmap_mode="r")[rows], dtype=np.float32)
    return texts, emb


def tiny_approximator(
    tmp_dir: str | Path,
    *,
    n_texts: int = 400,
    epochs: int = 25,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> Path:
    """Train and export a tiny approximator (seconds) into ``tmp_dir/tiny_approximator``.

    Entry embeddings come from the teacher's input word-piece table (no teacher forward pass);
    targets are the precomputed teacher embeddings of real WordNet texts. Nothing is cached
    outside ``tmp_dir``. The result loads with :meth:`lance_spiral.embed.Approximator.load` and
    has the teacher's dimension (384).

    Args:
        tmp_dir: A scratch directory.
        n_texts: Training texts.
        epochs: Training epochs.
        seed: Seed.
        data_dir: Shared data folder.

    Returns:
        The model directory.
    """
    from lance_spiral.embed.approximator.tokenizer import Tokenizer
    from lance_spiral.train.distill import TrainConfig, train_student
    from lance_spiral.train.export import export_approximator
    from lance_spiral.train.mining import (
        Vocabulary,
        mine_entries,
        read_wordpieces,
        static_entry_embeddings,
    )
    from lance_spiral.train.student import StudentConfig
    from lance_spiral.train.teacher import resolve_teacher_dir

    out = Path(tmp_dir) / "tiny_approximator"
    model_dir = resolve_teacher_dir()
    texts, targets = wordnet_pairs(n_texts, data_dir=data_dir)
    pieces = read_wordpieces(model_dir / "vocab.txt")
    mined = mine_entries(texts, max_entries=500, min_count=2, exclude=pieces)
    kinds, etexts = Vocabulary.entry_list(pieces, mined)
    emb = static_entry_embeddings(kinds, etexts, model_dir)
    tok = Tokenizer(kinds, etexts, max_tokens=128)
    result = train_student(
        tok,
        emb,
        texts,
        targets,
        model_config=StudentConfig(
            hidden=128,
            phi_hidden=256,
            rho_hidden=256,
            heads=2,
            context_heads=2,  # as the default build
            context_key_dim=32,
        ),
        config=TrainConfig(
            epochs=epochs, batch_size=64, lr=3e-3, patience=3, seed=seed, val_frac=0.05, threads=1
        ),
        out_dir=None,
        progress=False,
        plot=False,
    )
    export_approximator(
        result.model,
        tok,
        kinds,
        etexts,
        out,
        teacher=str(model_dir),
        extra={"training": result.summary()},
    )
    return out
