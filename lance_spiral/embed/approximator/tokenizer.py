"""Longest-match tokeniser: normalised words -> vocabulary entries (+ skip-grams, word pieces).

Lookup is dictionary based over word n-grams: at each word the longest n-gram (3, 2, 1 words) in
the vocabulary wins; skip-grams ``w1 _ w3`` are added where they exist; a word not in the
vocabulary falls back to the teacher's word pieces (greedy longest-match-first, as BERT does).
With a teacher window, text past the teacher's own input limit (counted in its word pieces) is
dropped, so the student sees exactly the words the teacher embedded.

:meth:`Tokenizer.tokenize_batch` gives the same ids for many texts at once, matching over word
ids in numba (:mod:`~lance_spiral.embed.approximator.wordmatch`); :meth:`Tokenizer.tokenize` is
the reference.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np

from lance_spiral.embed.approximator.text import SKIP, words
from lance_spiral.embed.approximator.wordmatch import WordTables, match_words, sorted_table
from lance_spiral.errors import InvalidInputError, InvalidParameterError

__all__ = ["MAX_TOKENS", "Tokenizer"]

MAX_TOKENS = 512
_MAX_WORD_CHARS = 100
_SKIP_JOIN = f" {SKIP} "


class Tokenizer:
    """Map texts to id sequences over a vocabulary's entries.

    Args:
        kinds: Entry kinds (``pad``, ``piece``, ``word``, ``ngram``, ``skip``).
        texts: Entry texts, aligned with ``kinds``.
        max_tokens: Cap on ids per text (1..512).
        skipgrams: Emit skip-gram entries found in the text.
        window: Teacher word pieces a text may span (the teacher's ``max_seq_length`` minus
            ``[CLS]``/``[SEP]``); words past it are dropped before matching. None keeps every
            word (up to ``max_tokens`` ids).
    """

    def __init__(
        self,
        kinds: Sequence[str],
        texts: Sequence[str],
        *,
        max_tokens: int = MAX_TOKENS,
        skipgrams: bool = True,
        window: int | None = None,
    ) -> None:
        if not 1 <= max_tokens <= MAX_TOKENS:
            raise InvalidParameterError(
                f"max_tokens must be in [1, {MAX_TOKENS}], got {max_tokens}"
            )
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int) or window < 1
        ):
            raise InvalidParameterError(f"window must be a positive int or None, got {window!r}")
        self.window = window
        if len(kinds) != len(texts):
            raise InvalidInputError("kinds and texts must have the same length")
        self.max_tokens = int(max_tokens)
        self.skipgrams = bool(skipgrams)
        self.size = len(texts)
        self._words: dict[str, int] = {}
        self._pieces: dict[str, int] = {}
        self._grams: dict[str, int] = {}
        self._skips: dict[str, int] = {}
        gram_len: dict[str, int] = {}
        skip_first: set[str] = set()
        for i, (kind, text) in enumerate(zip(kinds, texts, strict=False)):
            if kind == "piece":
                self._pieces[text] = i
                if not text.startswith("##"):
                    self._words.setdefault(text, i)
            elif kind == "word":
                self._words[text] = i
            elif kind == "ngram":
                self._grams[text] = i
                first = text.split(" ", 1)[0]
                size = text.count(" ") + 1
                if size > 3:
                    raise InvalidInputError(f"n-gram entries have 2-3 words, got {text!r}")
                gram_len[first] = max(gram_len.get(first, 1), size)
            elif kind == "skip":
                self._skips[text] = i
                skip_first.add(text.split(" ", 1)[0])
        self._gram_len = gram_len
        self._skip_first = skip_first
        self._unk = self._pieces.get("[UNK]", 0)
        self._oov: dict[str, list[int]] = {}
        self._word_index: dict[str, int] = {}
        self._word_tables: WordTables | None = None
        self._build_lock = threading.Lock()

    def word_tables(self) -> WordTables:
        """The matching rules as arrays over word ids, built once, on first use.

        That takes 0.2 s for the default model's 59,524 words. Every word that occurs in some
        entry (all word pieces included) gets an id; a word with none can only be a unigram,
        matched by its word pieces. Threads asking at once wait for one build.
        """
        tables = self._word_tables
        if tables is not None:
            return tables
        with self._build_lock:
            if self._word_tables is None:
                self._word_tables = self._build_word_tables()
            return self._word_tables

    def _build_word_tables(self) -> WordTables:
        index: dict[str, int] = {}
        for text in chain(self._pieces, self._words):
            index.setdefault(text, len(index))
        grams = [(text.split(" "), e) for text, e in self._grams.items()]
        skips = [(text.split(" "), e) for text, e in self._skips.items()]
        for parts, _ in chain(grams, skips):
            for part in parts:
                index.setdefault(part, len(index))
        nw = len(index)
        names = list(index)
        uni: list[list[int]] = []
        for word in names:
            hit = self._words.get(word, -1)
            uni.append([hit] if hit >= 0 else self._word_pieces(word))
        lengths = np.fromiter((len(u) for u in uni), dtype=np.int64, count=nw)
        uni_off = np.zeros(nw + 1, dtype=np.int64)
        np.cumsum(lengths, out=uni_off[1:])
        bi_k, bi_v, tri_k, tri_v, sk_k, sk_v = [], [], [], [], [], []
        for parts, e in grams:
            w = [index[p] for p in parts]
            if len(w) == 2:
                bi_k.append(w[0] * nw + w[1])
                bi_v.append(e)
            elif len(w) == 3:
                tri_k.append((w[0] * nw + w[1]) * nw + w[2])
                tri_v.append(e)
        for parts, e in skips:
            if len(parts) == 3 and parts[1] == SKIP:
                sk_k.append(index[parts[0]] * nw + index[parts[2]])
                sk_v.append(e)
        bigram_keys, bigram_ids = sorted_table(bi_k, bi_v)
        trigram_keys, trigram_ids = sorted_table(tri_k, tri_v)
        skip_keys, skip_ids = sorted_table(sk_k, sk_v)
        pieces = self._pieces
        self._word_index = index
        return WordTables(
            unigram_ids=np.fromiter(chain.from_iterable(uni), np.int64, int(uni_off[-1])),
            unigram_offsets=uni_off,
            piece_counts=np.fromiter(
                (1 if w in pieces else len(self._word_pieces(w)) for w in names), np.int64, nw
            ),
            gram_len=np.fromiter((self._gram_len.get(w, 1) for w in names), np.int64, nw),
            skip_first=np.fromiter((w in self._skip_first for w in names), np.bool_, nw),
            bigram_keys=bigram_keys,
            bigram_ids=bigram_ids,
            trigram_keys=trigram_keys,
            trigram_ids=trigram_ids,
            skip_keys=skip_keys,
            skip_ids=skip_ids,
        )

    def _word_pieces(self, word: str) -> list[int]:
        cached = self._oov.get(word)
        if cached is not None:
            return cached
        out: list[int] = []
        if len(word) > _MAX_WORD_CHARS:
            out = [self._unk]
        else:
            start, n = 0, len(word)
            while start < n:
                end, found = n, -1
                while start < end:
                    sub = word[start:end] if start == 0 else "##" + word[start:end]
                    found = self._pieces.get(sub, -1)
                    if found >= 0:
                        break
                    end -= 1
                if found < 0:
                    out = [self._unk]
                    break
                out.append(found)
                start = end
        if len(self._oov) < 200_000:
            self._oov[word] = out
        return out

    def window_words(self, w: Sequence[str]) -> int:
        """How many leading words fit in the teacher window (all of them without a window).

        A word costs one piece when it is a whole teacher piece, else its word-piece split.
        """
        budget = self.window
        # A word never splits into more pieces than it has characters: short texts always fit.
        if budget is None or sum(map(len, w)) <= budget:
            return len(w)
        pieces = self._pieces
        for k, word in enumerate(w):
            budget -= 1 if word in pieces else len(self._word_pieces(word))
            if budget < 0:
                return k
        return len(w)

    def tokenize_words(self, w: Sequence[str]) -> list[int]:
        """Ids for a split, normalised word list (cut at the window, capped at ``max_tokens``)."""
        if self.window is not None:
            w = w[: self.window_words(w)]
        ids: list[int] = []
        n = len(w)
        cap = self.max_tokens
        i = 0
        grams, wd, gl = self._grams, self._words, self._gram_len
        while i < n and len(ids) < cap:
            word = w[i]
            longest = gl.get(word, 1)
            step = 1
            if longest > 1 and i + 1 < n:
                two = word + " " + w[i + 1]
                hit = grams.get(two + " " + w[i + 2], -1) if longest > 2 and i + 2 < n else -1
                if hit >= 0:
                    step = 3
                else:
                    hit = grams.get(two, -1)
                    step = 2 if hit >= 0 else 1
                if hit >= 0:
                    ids.append(hit)
            if step == 1:
                hit = wd.get(word, -1)
                if hit >= 0:
                    ids.append(hit)
                else:
                    ids.extend(self._word_pieces(word))
            i += step
        if self.skipgrams and self._skips:
            sf, sk = self._skip_first, self._skips
            for j in range(n - 2):
                if len(ids) >= cap:
                    break
                if w[j] in sf:
                    hit = sk.get(w[j] + _SKIP_JOIN + w[j + 2], -1)
                    if hit >= 0:
                        ids.append(hit)
        return ids[:cap]

    def tokenize(self, text: str) -> list[int]:
        """Ids of one text.

        Raises:
            InvalidInputError: If ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        return self.tokenize_words(words(text))

    def tokenize_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of many texts, flat: the same ids as :meth:`tokenize`, several times faster.

        Args:
            texts: Strings.

        Returns:
            ``(flat int64[total], offsets int64[n + 1])``: text ``i`` is
            ``flat[offsets[i]:offsets[i + 1]]``.

        Raises:
            InvalidInputError: If ``texts`` is a bare string or holds non-strings.
        """
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a sequence of str, not a single str")
        texts = list(texts)
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise InvalidInputError(f"text must be str, got {type(bad).__name__}")
        tables = self.word_tables()
        split = [words(t) for t in texts]
        word_offsets = np.zeros(len(split) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, split), np.int64, len(split)), out=word_offsets[1:])
        flat_words = list(chain.from_iterable(split))
        n = len(flat_words)
        ids = np.fromiter(map(self._word_index.get, flat_words, repeat(-1, n)), np.int64, n)
        # Words no entry contains: numbered after the known ones, matched by their word pieces.
        extra: dict[str, int] = {}
        pieces: list[list[int]] = []
        nw = tables.n_words
        for p in np.flatnonzero(ids < 0).tolist():
            word = flat_words[p]
            k = extra.get(word)
            if k is None:
                k = extra[word] = len(pieces)
                pieces.append(self._word_pieces(word))
            ids[p] = nw + k
        extra_offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, pieces), np.int64, len(pieces)), out=extra_offsets[1:])
        extra_ids = np.fromiter(chain.from_iterable(pieces), np.int64, int(extra_offsets[-1]))
        return match_words(
            tables,
            ids,
            word_offsets,
            extra_ids,
            extra_offsets,
            window=self.window,
            cap=self.max_tokens,
            skipgrams=self.skipgrams,
        )

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Pad a batch of texts into an id matrix (0 = padding, at least one column).

        Args:
            texts: Strings.

        Returns:
            int64 [n, T] with T = longest row (>= 1).

        Raises:
            InvalidInputError: If ``texts`` is a bare string or holds non-strings.
        """
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a sequence of str, not a single str")
        flat, offsets = self.tokenize_batch(texts)
        lengths = np.diff(offsets)
        width = max(int(lengths.max()) if len(lengths) else 0, 1)
        out = np.zeros((len(lengths), width), dtype=np.int64)
        out[np.arange(width)[None, :] < lengths[:, None]] = flat
        return out
