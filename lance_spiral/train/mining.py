"""Vocabulary of the approximator: word pieces, mined words, n-grams and skip-grams with embeddings.

Entries are embedded once with the teacher (batched, resumable through ``.npy`` shards) and stored
as ``entries.json`` + ``embeddings.safetensors`` -- never pickle.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from lance_spiral.embed.approximator.text import KINDS, SKIP, words
from lance_spiral.errors import (
    CorruptDataError,
    FormatVersionError,
    InvalidInputError,
    InvalidParameterError,
    NotFoundError,
)

__all__ = ["Vocabulary", "mine_entries", "read_wordpieces", "static_entry_embeddings"]

FORMAT_VERSION = 1


def read_wordpieces(vocab_file: str | Path) -> list[str]:
    """Read a BERT ``vocab.txt`` keeping usable pieces (drops ``[unused*]`` and control tokens).

    Args:
        vocab_file: Path to the teacher tokenizer's ``vocab.txt``.

    Returns:
        Word pieces in file order (``[UNK]`` kept).

    Raises:
        NotFoundError: If the file does not exist.
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise NotFoundError(f"word-piece vocabulary {path} not found")
    skip = {"[PAD]", "[CLS]", "[SEP]", "[MASK]"}
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and line not in skip and not line.startswith("[unused"):
            out.append(line)
    return out


def mine_entries(
    texts: Iterable[str],
    *,
    max_entries: int = 20000,
    min_count: int = 3,
    ngram_frac: float = 0.3,
    skip_frac: float = 0.1,
    exclude: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Mine frequent words, useful 2-3-grams and skip-grams ``w1 _ w3`` from a corpus.

    Words rank by frequency; n-grams and skip-grams by ``count * PMI`` (frequent and more than
    the sum of their words), punctuation-only grams dropped.

    Args:
        texts: The corpus.
        max_entries: Cap on the number of mined entries.
        min_count: Minimum corpus frequency of an entry.
        ngram_frac: Share of the cap given to 2-3-grams.
        skip_frac: Share given to skip-grams.
        exclude: Words already covered (e.g. whole-word pieces); not mined again as words.

    Returns:
        ``(kind, text)`` pairs, kind in ``word|ngram|skip``; grams are space-joined words,
        skip-grams
        ``"w1 _ w3"``.

    Raises:
        InvalidParameterError: On a bad cap or fractions.
    """
    if max_entries < 0 or min_count < 1:
        raise InvalidParameterError("max_entries must be >= 0 and min_count >= 1")
    if not (0 <= ngram_frac <= 1 and 0 <= skip_frac <= 1 and ngram_frac + skip_frac <= 1):
        raise InvalidParameterError("ngram_frac and skip_frac must be in [0, 1] and sum to <= 1")
    uni: Counter[str] = Counter()
    bi: Counter[tuple[str, str]] = Counter()
    tri: Counter[tuple[str, str, str]] = Counter()
    skip: Counter[tuple[str, str]] = Counter()
    for text in texts:
        w = words(text)
        uni.update(w)
        bi.update(pairwise(w))
        tri.update(zip(w, w[1:], w[2:], strict=False))
        skip.update(zip(w, w[2:], strict=False))
    total = max(sum(uni.values()), 1)

    def alpha(token: str) -> bool:
        return token[0].isalnum()

    def pmi(count: int, parts: Sequence[str]) -> float:
        denom = 1.0
        for p in parts:
            denom *= uni[p] / total
        return math.log(count / total / denom) if denom > 0 else 0.0

    def ranked(counter: Counter, n_keep: int) -> list[tuple[str, ...]]:
        scored = []
        for gram, c in counter.items():
            if c < min_count or not all(alpha(g) for g in (gram[0], gram[-1])):
                continue
            s = pmi(c, gram) if len(gram) > 1 else 0.0
            if s > 0:
                scored.append((c * s, gram))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [g for _, g in scored[:n_keep]]

    n_ngram = int(max_entries * ngram_frac)
    n_skip = int(max_entries * skip_frac)
    excluded = set(exclude)
    ng_counter: Counter[tuple[str, ...]] = Counter()
    ng_counter.update(bi)
    ng_counter.update(tri)
    grams = ranked(ng_counter, n_ngram)
    skips = ranked(skip, n_skip)
    n_word = max_entries - len(grams) - len(skips)
    word_list = [
        w for w, c in uni.most_common() if c >= min_count and w not in excluded and alpha(w)
    ][:n_word]
    out: list[tuple[str, str]] = [("word", w) for w in word_list]
    out += [("ngram", " ".join(g)) for g in grams]
    out += [("skip", f"{a} {SKIP} {b}") for a, b in skips]
    return out


@dataclass
class Vocabulary:
    """Entries (kind, text) with one embedding row each; row 0 is padding.

    Attributes:
        kinds: Kind of each entry (see :data:`KINDS`).
        texts: Entry text: a piece (``##ing``), a word, ``"w1 w2"`` or ``"w1 _ w3"``.
        embeddings: float32 [n, d] entry embeddings (row 0 zeros).
    """

    kinds: list[str]
    texts: list[str]
    embeddings: np.ndarray

    def __post_init__(self) -> None:
        if len(self.kinds) != len(self.texts) or len(self.texts) != len(self.embeddings):
            raise InvalidInputError("kinds, texts and embeddings must have the same length")
        if self.embeddings.ndim != 2:
            raise InvalidInputError("embeddings must be 2-D")
        if not self.kinds or self.kinds[0] != "pad":
            raise InvalidInputError("entry 0 must be the padding entry")
        bad = set(self.kinds) - set(KINDS)
        if bad:
            raise InvalidInputError(f"unknown entry kinds {sorted(bad)}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.embeddings.shape[1])

    @staticmethod
    def entry_list(
        pieces: Sequence[str], mined: Sequence[tuple[str, str]]
    ) -> tuple[list[str], list[str]]:
        """Assemble kinds/texts: padding, then pieces, then mined entries (deduplicated).

        Args:
            pieces: Teacher word pieces.
            mined: ``(kind, text)`` pairs from :func:`mine_entries`.

        Returns:
            ``(kinds, texts)``.
        """
        kinds, texts = ["pad"], [""]
        seen: set[tuple[str, str]] = set()
        for p in pieces:
            kinds.append("piece")
            texts.append(p)
            if not p.startswith("##"):
                seen.add(("word", p))
        for kind, text in mined:
            if (kind, text) not in seen:
                seen.add((kind, text))
                kinds.append(kind)
                texts.append(text)
        return kinds, texts

    @staticmethod
    def teacher_text(kind: str, text: str) -> str:
        """The string given to the teacher for one entry."""
        if kind == "piece":
            return text[2:] if text.startswith("##") and len(text) > 2 else text
        if kind == "skip":
            return text.replace(f" {SKIP} ", " ")
        return text

    @classmethod
    def build(
        cls,
        kinds: list[str],
        texts: list[str],
        embed: Callable[[list[str]], np.ndarray],
        *,
        shard_dir: str | Path | None = None,
        shard_size: int = 4096,
        progress: bool = True,
    ) -> Vocabulary:
        """Embed every entry once, in shards written to ``shard_dir`` (a rerun resumes).

        Args:
            kinds: Entry kinds (entry 0 the padding).
            texts: Entry texts.
            embed: Function embedding a list of strings into float32 rows (e.g. the teacher).
            shard_dir: Where finished shards go; None keeps everything in memory.
            shard_size: Entries per shard.
            progress: Show a progress bar.

        Returns:
            The vocabulary.

        Raises:
            InvalidParameterError: If ``shard_size`` < 1.
            CorruptDataError: If a stored shard does not match the entries.
        """
        from tqdm.auto import tqdm

        if shard_size < 1:
            raise InvalidParameterError(f"shard_size must be >= 1, got {shard_size}")
        items = [cls.teacher_text(k, t) for k, t in zip(kinds[1:], texts[1:], strict=False)]
        shard_path = Path(shard_dir) if shard_dir is not None else None
        if shard_path is not None:
            shard_path.mkdir(parents=True, exist_ok=True)
            (shard_path / "texts.json").write_text(json.dumps(items))
        parts: list[np.ndarray] = []
        starts = range(0, len(items), shard_size)
        for i, start in enumerate(tqdm(starts, desc="embed vocabulary", disable=not progress)):
            chunk = items[start : start + shard_size]
            f = shard_path / f"shard_{i:05d}.npy" if shard_path is not None else None
            if f is not None and f.is_file():
                arr = np.load(f, allow_pickle=False)
                if arr.shape[0] != len(chunk):
                    raise CorruptDataError(f"shard {f} has {arr.shape[0]} rows, want {len(chunk)}")
            else:
                arr = np.asarray(embed(chunk), dtype=np.float32)
                if f is not None:
                    np.save(f, arr, allow_pickle=False)
            parts.append(arr)
        body = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        emb = np.zeros((len(texts), body.shape[1]), dtype=np.float32)
        emb[1:] = body
        return cls(kinds, texts, emb)

    def save(self, directory: str | Path) -> None:
        """Write ``entries.json`` and ``embeddings.safetensors`` (float16) into ``directory``."""
        from safetensors.numpy import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {"format_version": FORMAT_VERSION, "kinds": self.kinds, "texts": self.texts}
        (d / "entries.json").write_text(json.dumps(meta, ensure_ascii=False))
        save_file(
            {"embeddings": self.embeddings.astype(np.float16)}, str(d / "embeddings.safetensors")
        )

    @classmethod
    def load(cls, directory: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            NotFoundError: If the files are missing.
            FormatVersionError: If the format version is unknown.
        """
        from safetensors.numpy import load_file

        d = Path(directory)
        if not (d / "entries.json").is_file() or not (d / "embeddings.safetensors").is_file():
            raise NotFoundError(f"no vocabulary in {d}")
        meta = json.loads((d / "entries.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise FormatVersionError(f"vocabulary format {meta.get('format_version')} unsupported")
        emb = load_file(str(d / "embeddings.safetensors"))["embeddings"].astype(np.float32)
        return cls(list(meta["kinds"]), list(meta["texts"]), emb)


def static_entry_embeddings(
    kinds: Sequence[str], texts: Sequence[str], model_dir: str | Path
) -> np.ndarray:
    """Entry embeddings from the teacher's input word-piece table (no teacher forward pass).

    Each entry gets the mean of the input embeddings of its word pieces -- a fast initialisation
    for quick builds and tests; :meth:`Vocabulary.build` with the teacher is the quality path.

    Args:
        kinds: Entry kinds.
        texts: Entry texts.
        model_dir: Teacher model directory (``model.safetensors`` + ``vocab.txt``).

    Returns:
        float32 [len(texts), d] (row 0 zeros).

    Raises:
        NotFoundError: If the model files or the word-embedding table are missing.
    """
    from safetensors.numpy import load_file

    from lance_spiral.embed.approximator.tokenizer import Tokenizer

    d = Path(model_dir)
    if not (d / "model.safetensors").is_file():
        raise NotFoundError(f"{d / 'model.safetensors'} not found")
    tensors = load_file(str(d / "model.safetensors"))
    key = next((k for k in tensors if k.endswith("word_embeddings.weight")), None)
    if key is None:
        raise NotFoundError(f"no word_embeddings table in {d / 'model.safetensors'}")
    table = tensors[key].astype(np.float32)
    full = [line for line in (d / "vocab.txt").read_text(encoding="utf-8").splitlines()]
    row_of = {p: i for i, p in enumerate(full)}
    pieces_only = Tokenizer(["pad"] + ["piece"] * len(full), ["", *full], skipgrams=False)
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    for i in range(1, len(texts)):
        kind, text = kinds[i], texts[i]
        if kind == "piece" and text in row_of:
            out[i] = table[row_of[text]]
            continue
        ids = pieces_only.tokenize(Vocabulary.teacher_text(kind, text))
        if ids:
            out[i] = table[np.asarray(ids) - 1].mean(axis=0)
    return out
