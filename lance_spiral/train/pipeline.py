"""End-to-end distillation: corpus -> vocabulary -> teacher targets -> training -> ONNX."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.embed.approximator.tokenizer import Tokenizer
from lance_spiral.errors import InvalidInputError, NotFoundError
from lance_spiral.train.corpus import (
    load_corpus,
    load_train_queries,
    passage_crops,
    passage_mixes,
    passage_spans,
)
from lance_spiral.train.distill import TrainConfig, train_student
from lance_spiral.train.export import export_approximator
from lance_spiral.train.mining import (
    Vocabulary,
    mine_entries,
    read_wordpieces,
    static_entry_embeddings,
)
from lance_spiral.train.student import StudentConfig
from lance_spiral.train.teacher import (
    DEFAULT_TEACHER,
    PRECISIONS,
    resolve_teacher_dir,
    teacher_window,
)

__all__ = ["distill_approximator", "reexport"]



def distill_approximator(
    corpus: Sequence[str | Path],
    out_dir: str | Path,
    *,
    teacher: str = DEFAULT_TEACHER,
    queries: Sequence[str | Path] = (),
    vocab_size: int = 20000,
    min_count: int = 3,
    entry_init: str = "teacher",
    max_texts: int | None = None,
    crops: int = 0,
    mixes: int = 0,
    spans: int = 0,
    max_tokens: int = 512,
    window: bool = True,
    model_config: StudentConfig | None = None,
    train_config: TrainConfig | None = None,
    quantize: bool = False,
    threads: int | None = None,
    teacher_threads: int | None = None,
    teacher_precision: str = "float32",
    base_entries: Sequence[tuple[str, str]] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Build an approximator from scratch and write it to ``out_dir``.

    Args:
        corpus: Corpus files (see :func:`load_corpus`).
        out_dir: Output model directory (``train/`` inside keeps vocabulary, shards, checkpoints).
        teacher: Teacher model directory or package.
        queries: Query files whose ``train`` split joins the training texts.
        vocab_size: Mined entries (words, n-grams, skip-grams) on top of the teacher's pieces.
        min_count: Minimum frequency of a mined entry.
        entry_init: ``"teacher"`` (embed each entry with the teacher) or ``"static"`` (teacher
            input table, no forward pass).
        max_texts: Optional cap on training texts (seeded sample).
        crops: Extra training texts cut from long corpus texts (:func:`passage_crops`), embedded
            by the teacher; 0 disables.
        mixes: Extra long training texts recombined from related corpus texts
            (:func:`passage_mixes`), embedded by the teacher; 0 disables. They are not mined for
            vocabulary entries (their n-grams are the corpus's, counted again).
        spans: Extra short training texts, query-sized runs of words from the sentences of long
            corpus texts (:func:`passage_spans`), embedded by the teacher; 0 disables. Not mined
            either.
        max_tokens: Tokeniser cap.
        window: Cut texts at the teacher's input limit (its ``max_seq_length`` in word pieces),
            so the student is trained and served on the words the teacher actually embeds.
        model_config: Student shape.
        train_config: Optimisation settings.
        quantize: Also write an int8 model.
        threads: Torch threads for the teacher and training (1 is fastest on a busy machine).
        teacher_threads: Torch threads for the teacher alone (None: ``threads``); training
            keeps ``threads``.
        teacher_precision: Precision of the teacher's forward passes (targets and entry
            embeddings): ``"float32"``, ``"bfloat16"`` or ``"auto"`` (see
            :class:`~lance_spiral.train.teacher.Teacher`); the resolved one is in the summary.
        base_entries: ``(kind, text)`` vocabulary entries to start from (e.g. another model's,
            :func:`~lance_spiral.train.presets.model_entries`); up to ``vocab_size`` entries
            mined from the corpus are added after them.
        progress: Progress bars.

    Returns:
        A summary (timings, sizes, validation cosine) also written to ``train/summary.json``.

    Raises:
        InvalidInputError: On an unknown ``entry_init``, a bad ``crops``, ``mixes``, ``spans``
            or ``teacher_threads``, an unknown ``teacher_precision``, or no texts.
    """
    if entry_init not in ("teacher", "static"):
        raise InvalidInputError(f"entry_init must be 'teacher' or 'static', got {entry_init!r}")
    for name, value in (("crops", crops), ("mixes", mixes), ("spans", spans)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative int, got {value!r}")
    if teacher_threads is not None and (
        isinstance(teacher_threads, bool)
        or not isinstance(teacher_threads, int)
        or teacher_threads < 1
    ):
        raise InvalidInputError(f"teacher_threads must be a positive int, got {teacher_threads!r}")
    if teacher_precision not in PRECISIONS:
        raise InvalidInputError(
            f"teacher_precision must be one of {PRECISIONS}, got {teacher_precision!r}"
        )
    t0 = time.perf_counter()
    out = Path(out_dir)
    work = out / "train"
    model_dir = resolve_teacher_dir(teacher)
    # Read and checked up front: a bad teacher config fails before any embedding work.
    teacher_limit = teacher_window(model_dir) if window else None
    timings: dict[str, float] = {}
    chunks: list[tuple[list[str], np.ndarray | None]] = [load_corpus(f) for f in corpus]
    if crops:
        chunks.append(
            (passage_crops([t for c, _ in chunks for t in c], max_crops=crops), None)
        )
    chunks += [load_train_queries(f) for f in queries]
    n_mined_from = sum(len(c) for c, _ in chunks)
    made_mixes: list[str] = []
    if mixes:
        docs = chunks[: len(corpus)]
        long_texts = [t for c, _ in docs for t in c]
        with_emb = all(e is not None for _, e in docs)
        mix_emb = np.concatenate([e for _, e in docs if e is not None]) if with_emb else None
        made_mixes = passage_mixes(long_texts, mix_emb, n=mixes)
        chunks.append((made_mixes, None))
    made_spans: list[str] = []
    if spans:
        made_spans = passage_spans([t for c, _ in chunks[: len(corpus)] for t in c], n=spans)
        chunks.append((made_spans, None))
    texts = [t for c, _ in chunks for t in c]
    if not texts:
        raise InvalidInputError("no training texts")
    # Created only once every input has been read and checked: bad input leaves nothing behind.
    work.mkdir(parents=True, exist_ok=True)
    timings["load"] = time.perf_counter() - t0
    teacher_model = None

    def get_teacher() -> Any:
        nonlocal teacher_model
        if teacher_model is None:
            from lance_spiral.train.teacher import Teacher

            teacher_model = Teacher(
                model_dir,
                batch_size=256,
                threads=teacher_threads if teacher_threads is not None else threads,
                precision=teacher_precision,
            )
        return teacher_model

    rows = []
    for chunk_texts, emb in chunks:
        if emb is None and chunk_texts:
            emb = get_teacher().embed(chunk_texts, progress=progress)
        if emb is not None:
            rows.append(emb)
    targets = np.concatenate(rows).astype(np.float32)
    timings["targets"] = time.perf_counter() - t0 - sum(timings.values())
    minable = np.arange(len(texts)) < n_mined_from  # mixes repeat the corpus's n-grams
    if max_texts is not None and max_texts < len(texts):
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(texts), max_texts, replace=False))
        texts = [texts[i] for i in pick]
        targets = targets[pick]
        minable = minable[pick]
    pieces = read_wordpieces(model_dir / "vocab.txt")
    mine_from = [t for t, m in zip(texts, minable, strict=True) if m]
    base = list(base_entries)
    mined = base + mine_entries(
        mine_from,
        max_entries=vocab_size,
        min_count=min_count,
        exclude=[*pieces, *(t for k, t in base if k == "word")],
    )
    kinds, etexts = Vocabulary.entry_list(pieces, mined)
    if entry_init == "teacher":
        vocab = Vocabulary.build(
            kinds,
            etexts,
            lambda b: get_teacher().embed(b),
            shard_dir=work / "vocab_shards",
            progress=progress,
        )
    else:
        vocab = Vocabulary(kinds, etexts, static_entry_embeddings(kinds, etexts, model_dir))
    vocab.save(work / "vocab")
    timings["vocabulary"] = time.perf_counter() - t0 - sum(timings.values())
    tokenizer = Tokenizer(kinds, etexts, max_tokens=max_tokens, window=teacher_limit)
    train_config = train_config or TrainConfig()
    if threads is not None and train_config.threads is None:
        train_config.threads = threads
    result = train_student(
        tokenizer,
        vocab.embeddings,
        texts,
        targets,
        model_config=model_config,
        config=train_config,
        out_dir=work,
        progress=progress,
    )
    timings["train"] = time.perf_counter() - t0 - sum(timings.values())
    summary = {
        "n_texts": len(texts),
        "vocab_entries": len(vocab),
        "mined_entries": len(mined) - len(base),
        "base_entries": len(base),
        "crops": crops,
        "mixes": len(made_mixes),
        "spans": len(made_spans),
        "window": tokenizer.window,
        "entry_init": entry_init,
        "teacher_precision": teacher_model.precision if teacher_model is not None else None,
        **result.summary(),
    }
    export_approximator(
        result.model,
        tokenizer,
        kinds,
        etexts,
        out,
        teacher=str(teacher),
        quantize=quantize,
        extra={"training": summary},
    )
    timings["export"] = time.perf_counter() - t0 - sum(timings.values())
    summary["timings_s"] = timings
    summary["total_s"] = time.perf_counter() - t0
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def reexport(out_dir: str | Path, *, quantize: bool = False) -> Path:
    """Export again from ``out_dir/train`` (vocabulary + ``best.safetensors`` checkpoint).

    Useful after an interrupted run or to add an int8 model.

    Args:
        out_dir: A directory written by :func:`distill_approximator` (``config.json`` present).
        quantize: Also write ``model.int8.onnx``.

    Returns:
        The directory.

    Raises:
        NotFoundError: If the checkpoint or vocabulary is missing.
    """
    from safetensors.torch import load_file

    from lance_spiral.train.student import build_student

    out = Path(out_dir)
    ckpt = out / "train" / "best.safetensors"
    if not ckpt.is_file():
        raise NotFoundError(f"no checkpoint at {ckpt}")
    vocab = Vocabulary.load(out / "train" / "vocab")
    cfg_file = out / "config.json"
    meta = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    state = load_file(str(ckpt))
    mcfg = StudentConfig(**meta.get("model", {}))
    model = build_student(mcfg, vocab.embeddings)
    model.load_state_dict(state)
    model.eval()
    tok_meta = (
        json.loads((out / "tokenizer.json").read_text())
        if (out / "tokenizer.json").is_file()
        else {}
    )
    tokenizer = Tokenizer(
        vocab.kinds,
        vocab.texts,
        max_tokens=int(tok_meta.get("max_tokens", 512)),
        skipgrams=bool(tok_meta.get("skipgrams", True)),
        window=tok_meta.get("window"),
    )
    extra = {
        k: v
        for k, v in meta.items()
        if k not in ("format_version", "dim", "model", "teacher", "quantized")
    }
    return export_approximator(
        model,
        tokenizer,
        vocab.kinds,
        vocab.texts,
        out,
        teacher=str(meta.get("teacher", "")),
        quantize=quantize,
        extra=extra,
    )
