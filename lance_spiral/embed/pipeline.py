"""End-to-end distillation: corpus -> vocabulary -> teacher targets -> training -> ONNX."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral.embed.distill import TrainConfig, train_student
from lance_spiral.embed.export import export_approximator
from lance_spiral.embed.model import StudentConfig
from lance_spiral.embed.teacher import (
    DEFAULT_TEACHER,
    PRECISIONS,
    resolve_teacher_dir,
    teacher_window,
)
from lance_spiral.embed.tokenizer import Tokenizer
from lance_spiral.embed.vocab import (
    Vocabulary,
    mine_entries,
    read_wordpieces,
    static_entry_embeddings,
)
from lance_spiral.errors import InvalidInputError, NotFoundError

__all__ = [
    "distill_approximator",
    "in_heldout",
    "load_corpus",
    "load_train_queries",
    "passage_crops",
    "passage_mixes",
    "passage_spans",
    "reexport",
]

_SIBLING_EMB = {"texts.jsonl": ("emb_f16.npy",), "corpus.jsonl": ("corpus_emb.npy",)}


def in_heldout(doc_id: str, frac: float = 0.5) -> bool:
    """Whether a document id falls in the held-out split B (stable hash of the id).

    Args:
        doc_id: Document id.
        frac: Share of ids in B.

    Returns:
        True for B (never used for training), False for A.
    """
    import hashlib

    h = int.from_bytes(hashlib.blake2b(str(doc_id).encode(), digest_size=8).digest(), "little")
    return h / 2**64 < frac


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def passage_crops(
    texts: Sequence[str], *, max_crops: int, window: int = 3, min_words: int = 6, seed: int = 0
) -> list[str]:
    """Sentences and sentence windows cut from long texts, as extra distillation inputs.

    A document-level corpus teaches the student long inputs only; queries are single sentences.
    Every text of at least ``window`` sentences yields its sentences (of ``min_words`` words or
    more) and windows of ``window`` consecutive sentences (stride ``window - 1``). When there are
    more than ``max_crops``, a seeded sample is kept. The crops are embedded by the teacher like
    any other training text, so they come from the training side of the corpus only.

    Args:
        texts: Source texts (already stripped of any held-out split).
        max_crops: Cap on the number of crops returned (0 returns none).
        window: Sentences per window.
        min_words: Minimum words of a kept sentence.
        seed: Sampling seed.

    Returns:
        The crops, in a deterministic order.
    """
    if max_crops <= 0:
        return []
    crops: list[str] = []
    seen: set[str] = set()
    for text in texts:
        sents = _sentences(text)
        if len(sents) < window:
            continue
        cand = [s for s in sents if len(s.split()) >= min_words]
        cand += [
            " ".join(sents[i : i + window])
            for i in range(0, len(sents) - window + 1, max(1, window - 1))
        ]
        for c in cand:
            if c not in seen and c != text:
                seen.add(c)
                crops.append(c)
    if len(crops) > max_crops:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(crops), max_crops, replace=False))
        crops = [crops[i] for i in keep]
    return crops


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def passage_mixes(
    texts: Sequence[str],
    embeddings: np.ndarray | None,
    *,
    n: int,
    partners: int = 2,
    neighbours: int = 8,
    words: int = 180,
    min_sentences: int = 3,
    seed: int = 0,
) -> list[str]:
    """New long passages recombined from the sentences of related long texts.

    A corpus of a few thousand documents gives the student few long inputs (and the ones it has,
    it fits far better than unseen ones). Each mix starts from a document, adds ``partners``
    documents drawn from its ``neighbours`` nearest ones (inner product of ``embeddings``; random
    documents when there are none), and joins their sentences in a random order until about
    ``words`` words. The result reads like an unseen abstract on the same topic: known words in
    new combinations, which the teacher then embeds like any other training text. Only texts of
    at least ``min_sentences`` sentences take part; they come from the training side of the
    corpus only.

    Args:
        texts: Source texts (already stripped of any held-out split).
        embeddings: float32 [len(texts), d] teacher embeddings, or None.
        n: Mixes to return (0 returns none).
        partners: Documents added to each seed document.
        neighbours: Pool of nearest documents the partners are drawn from.
        words: Target length in words (the last sentence may run past it).
        min_sentences: Shortest text, in sentences, that takes part.
        seed: Sampling seed.

    Returns:
        ``n`` distinct passages in a deterministic order (fewer if the corpus cannot make them).

    Raises:
        InvalidInputError: On a negative ``n``, a non-positive ``neighbours``/``words``/
            ``min_sentences``, a negative ``partners`` or embeddings that do not match the texts.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidInputError(f"n must be a non-negative int, got {n!r}")
    if partners < 0 or neighbours < 1 or words < 1 or min_sentences < 1:
        raise InvalidInputError(
            "partners must be >= 0 and neighbours, words, min_sentences >= 1"
        )
    if n == 0:
        return []
    if embeddings is not None and len(embeddings) != len(texts):
        raise InvalidInputError(f"{len(embeddings)} embeddings for {len(texts)} texts")
    split = [_sentences(t) for t in texts]
    keep = [i for i, parts in enumerate(split) if len(parts) >= min_sentences]
    if len(keep) < partners + 1:
        return []
    sents = [split[i] for i in keep]
    rng = np.random.default_rng(seed)
    k = min(neighbours, len(keep) - 1)
    near: np.ndarray | None = None
    if embeddings is not None:
        e = np.asarray(embeddings, np.float32)[keep]
        near = np.empty((len(keep), k), np.int64)
        for s0 in range(0, len(keep), 1024):
            sim = e[s0 : s0 + 1024] @ e.T
            rows = np.arange(sim.shape[0])
            sim[rows, rows + s0] = -np.inf
            near[s0 : s0 + 1024] = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < 4 * n:
        attempts += 1
        a = int(rng.integers(len(keep)))
        pool = near[a] if near is not None else np.delete(np.arange(len(keep)), a)
        docs = [a, *rng.choice(pool, min(partners, len(pool)), replace=False).tolist()]
        cand = [s for d in docs for s in sents[d]]
        order = rng.permutation(len(cand))
        picked: list[str] = []
        count = 0
        for j in order:
            picked.append(cand[j])
            count += len(cand[j].split())
            if count >= words:
                break
        mix = " ".join(picked)
        if mix not in seen:
            seen.add(mix)
            out.append(mix)
    return out


def passage_spans(
    texts: Sequence[str],
    *,
    n: int,
    min_words: int = 6,
    max_words: int = 20,
    min_sentences: int = 3,
    seed: int = 0,
) -> list[str]:
    """Short runs of consecutive words cut from the sentences of long texts, query-sized.

    Queries are shorter than the corpus's sentences (SciFact claims: median 12 words, sentences
    of the abstracts: 23). Each span is ``min_words`` to ``max_words`` consecutive words (length
    drawn uniformly) of a random sentence, with trailing punctuation stripped: in-domain words
    in the short inputs a query makes, embedded by the teacher like any other training text.
    Only texts of at least ``min_sentences`` sentences take part (short texts are already
    query-sized); they come from the training side of the corpus only.

    Args:
        texts: Source texts (already stripped of any held-out split).
        n: Spans to return (0 returns none).
        min_words: Shortest span, in words.
        max_words: Longest span, in words.
        min_sentences: Shortest text, in sentences, that takes part.
        seed: Sampling seed.

    Returns:
        Up to ``n`` distinct spans in a deterministic order (fewer if the corpus cannot make them).

    Raises:
        InvalidInputError: On a negative ``n`` or bad word bounds.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidInputError(f"n must be a non-negative int, got {n!r}")
    if min_words < 1 or max_words < min_words or min_sentences < 1:
        raise InvalidInputError(
            f"need 1 <= min_words <= max_words and min_sentences >= 1, got {min_words}, "
            f"{max_words} and {min_sentences}"
        )
    if n == 0:
        return []
    split = [_sentences(t) for t in texts]
    sents = [
        w
        for parts in split
        if len(parts) >= min_sentences
        for s in parts
        if len(w := s.split()) >= min_words
    ]
    if not sents:
        return []
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < 4 * n:
        attempts += 1
        words = sents[int(rng.integers(len(sents)))]
        size = int(rng.integers(min_words, min(max_words, len(words)) + 1))
        start = int(rng.integers(len(words) - size + 1))
        span = " ".join(words[start : start + size]).rstrip(".,;:")
        if span and span not in seen:
            seen.add(span)
            out.append(span)
    return out


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _doc_text(rec: dict[str, Any]) -> str:
    return f"{rec.get('title', '') or ''} {rec.get('text', '') or ''}".strip()


def load_corpus(
    path: str | Path, *, drop_heldout: bool = True
) -> tuple[list[str], np.ndarray | None]:
    """Read training texts and, when stored beside them, their teacher embeddings.

    ``.jsonl`` rows give ``title + " " + text``; ``.txt`` one text per line. Embeddings are taken
    from a known sibling file (``emb_f16.npy`` for ``texts.jsonl``, ``corpus_emb.npy`` for
    ``corpus.jsonl``) or ``<stem>.npy``. A BEIR corpus (``qrels.tsv`` beside it) loses its held-out
    split B unless ``drop_heldout`` is False.

    Args:
        path: Corpus file.
        drop_heldout: Drop BEIR documents in split B.

    Returns:
        ``(texts, embeddings float32[n, d] or None)``.

    Raises:
        NotFoundError: If the file is missing.
        InvalidInputError: If a sibling embedding file does not match the texts.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"corpus {p} not found")
    if p.suffix == ".jsonl":
        recs = _read_jsonl(p)
        texts = [_doc_text(r) for r in recs]
        ids = [str(r.get("_id", r.get("id", i))) for i, r in enumerate(recs)]
    else:
        texts = [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        ids = [str(i) for i in range(len(texts))]
    emb = None
    for name in (*_SIBLING_EMB.get(p.name, ()), p.stem + ".npy"):
        f = p.parent / name
        if f.is_file():
            emb = np.load(f, allow_pickle=False).astype(np.float32)
            if emb.shape[0] != len(texts):
                raise InvalidInputError(f"{f} has {emb.shape[0]} rows for {len(texts)} texts")
            break
    if drop_heldout and (p.parent / "qrels.tsv").is_file():
        keep = np.array([not in_heldout(i) for i in ids], dtype=bool)
        texts = [t for t, k in zip(texts, keep, strict=False) if k]
        emb = emb[keep] if emb is not None else None
    return texts, emb


def load_train_queries(path: str | Path) -> tuple[list[str], np.ndarray | None]:
    """Training queries (``split == "train"`` only; test queries are never read for training).

    Embeddings come from ``query_emb.npy`` beside the file (row-aligned with every line).

    Raises:
        NotFoundError: If the file is missing.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"queries {p} not found")
    recs = _read_jsonl(p)
    keep = np.array([r.get("split") == "train" for r in recs], dtype=bool)
    texts = [r["text"] for r, k in zip(recs, keep, strict=False) if k]
    f = p.parent / "query_emb.npy"
    emb = None
    if f.is_file():
        full = np.load(f, allow_pickle=False).astype(np.float32)
        if full.shape[0] == len(recs):
            emb = full[keep]
    return texts, emb


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
            :class:`~lance_spiral.embed.teacher.Teacher`); the resolved one is in the summary.
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
            from lance_spiral.embed.teacher import Teacher

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
    mined = mine_entries(mine_from, max_entries=vocab_size, min_count=min_count, exclude=pieces)
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
        "mined_entries": len(mined),
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

    from lance_spiral.embed.model import build_student

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
