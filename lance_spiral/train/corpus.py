"""Training texts for distillation: corpus files, held-out splits, and texts derived from them.

Derived texts (sentence crops, recombined passages, query-sized spans) widen the length range the
student learns; each is embedded by the teacher like any corpus text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral._io import read_jsonl
from lance_spiral.errors import InvalidInputError, NotFoundError

__all__ = [
    "in_heldout",
    "load_corpus",
    "load_train_queries",
    "passage_crops",
    "passage_mixes",
    "passage_spans",
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
        recs = read_jsonl(p)
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
    recs = read_jsonl(p)
    keep = np.array([r.get("split") == "train" for r in recs], dtype=bool)
    texts = [r["text"] for r, k in zip(recs, keep, strict=False) if k]
    f = p.parent / "query_emb.npy"
    emb = None
    if f.is_file():
        full = np.load(f, allow_pickle=False).astype(np.float32)
        if full.shape[0] == len(recs):
            emb = full[keep]
    return texts, emb
