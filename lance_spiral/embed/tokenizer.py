"""Longest-match tokeniser: normalised words -> vocabulary entries (+ skip-grams, word pieces).

Lookup is dictionary based over word n-grams: at each word the longest n-gram (3, 2, 1 words) in
the vocabulary wins; skip-grams ``w1 _ w3`` are added where they exist; a word not in the
vocabulary falls back to the teacher's word pieces (greedy longest-match-first, as BERT does).
With a teacher window, text past the teacher's own input limit (counted in its word pieces) is
dropped, so the student sees exactly the words the teacher embedded.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

from lance_spiral.embed.vocab import SKIP, words
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
        rows = [self.tokenize(t) for t in texts]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        width = max(int(lengths.max()) if len(rows) else 0, 1)
        out = np.zeros((len(rows), width), dtype=np.int64)
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        out[np.arange(width)[None, :] < lengths[:, None]] = flat
        return out
