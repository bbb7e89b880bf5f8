"""The tokeniser's matching rules over word ids, in numba (the batch path of :class:`Tokenizer`).

Python still normalises and splits text into words (a regex) and maps each word to an integer id
with one dictionary lookup; everything after that -- the teacher-window cut, longest n-gram
match, unigram or word-piece fallback, skip-grams, the ``max_tokens`` cap -- runs here over int
arrays: n-gram and skip-gram keys are packed word ids (``w1 * W + w2``, ``(w1 * W + w2) * W + w3``)
looked up by binary search in sorted key arrays. The ids are the same as
:meth:`Tokenizer.tokenize_words` gives, word for word (tested on real texts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["WordTables", "match_words"]


@dataclass(frozen=True)
class WordTables:
    """A vocabulary's matching rules as arrays over ``W`` known words (ids ``0..W-1``).

    Attributes:
        unigram_ids: int64 flat: each known word's ids as a single word (its entry, else its
            word pieces); ``unigram_offsets`` int64 [W + 1] slices it.
        piece_counts: int64 [W] teacher word pieces per word (for the teacher window).
        gram_len: int64 [W] longest n-gram (1-3 words) starting with the word.
        skip_first: bool [W] the word starts some skip-gram.
        bigram_keys / bigram_ids: sorted int64 packed keys and their entries (likewise
            ``trigram_*`` and ``skip_*``).
    """

    unigram_ids: np.ndarray
    unigram_offsets: np.ndarray
    piece_counts: np.ndarray
    gram_len: np.ndarray
    skip_first: np.ndarray
    bigram_keys: np.ndarray
    bigram_ids: np.ndarray
    trigram_keys: np.ndarray
    trigram_ids: np.ndarray
    skip_keys: np.ndarray
    skip_ids: np.ndarray

    @property
    def n_words(self) -> int:
        """Known words ``W``."""
        return int(self.piece_counts.shape[0])


def sorted_table(keys: list[int], ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Packed keys sorted for binary search, with their entry ids."""
    k = np.asarray(keys, dtype=np.int64)
    v = np.asarray(ids, dtype=np.int64)
    order = np.argsort(k, kind="stable")
    return k[order], v[order]


@numba.njit(cache=True, nogil=True)
def _find(keys: np.ndarray, values: np.ndarray, key: int) -> int:
    i = np.searchsorted(keys, key)
    if i < keys.shape[0] and keys[i] == key:
        return values[i]
    return -1


@numba.njit(cache=True, nogil=True)
def _match_one(
    w: np.ndarray,
    extra_ids: np.ndarray,
    extra_offsets: np.ndarray,
    rules: tuple[np.ndarray, ...],
    window: int,
    cap: int,
    skipgrams: bool,
    out: np.ndarray,
) -> int:
    uni_ids, uni_off, piece_counts, gram_len, skip_first = rules[:5]
    bi_keys, bi_ids, tri_keys, tri_ids, sk_keys, sk_ids = rules[5:]
    nw = piece_counts.shape[0]
    n = w.shape[0]
    if window > 0:
        budget = window
        for i in range(n):
            x = w[i]
            if x < nw:
                budget -= piece_counts[x]
            else:
                budget -= extra_offsets[x - nw + 1] - extra_offsets[x - nw]
            if budget < 0:
                n = i
                break
    count = 0
    i = 0
    while i < n and count < cap:
        x = w[i]
        step = 1
        longest = gram_len[x] if x < nw else 1
        if longest > 1 and i + 1 < n:
            y = w[i + 1]
            hit = -1
            if y < nw:
                if longest > 2 and i + 2 < n and w[i + 2] < nw:
                    hit = _find(tri_keys, tri_ids, (x * nw + y) * nw + w[i + 2])
                if hit >= 0:
                    step = 3
                else:
                    hit = _find(bi_keys, bi_ids, x * nw + y)
                    if hit >= 0:
                        step = 2
            if hit >= 0:
                out[count] = hit
                count += 1
        if step == 1:
            if x < nw:
                lo, hi = uni_off[x], uni_off[x + 1]
                src = uni_ids
            else:
                lo, hi = extra_offsets[x - nw], extra_offsets[x - nw + 1]
                src = extra_ids
            for j in range(lo, hi):
                if count < cap:
                    out[count] = src[j]
                    count += 1
        i += step
    if skipgrams and sk_keys.shape[0] > 0:
        for j in range(n - 2):
            if count >= cap:
                break
            a, b = w[j], w[j + 2]
            if a < nw and b < nw and skip_first[a]:
                hit = _find(sk_keys, sk_ids, a * nw + b)
                if hit >= 0:
                    out[count] = hit
                    count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _match_all(
    words: np.ndarray,
    word_offsets: np.ndarray,
    extra_ids: np.ndarray,
    extra_offsets: np.ndarray,
    rules: tuple[np.ndarray, ...],
    window: int,
    cap: int,
    skipgrams: bool,
) -> tuple[np.ndarray, np.ndarray]:
    n = word_offsets.shape[0] - 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    # Each text yields at most ``cap`` ids: grow the output as texts come.
    flat = np.empty(max(16, min(n * cap, words.shape[0] * 2 + 16)), dtype=np.int64)
    buf = np.empty(cap, dtype=np.int64)
    for b in range(n):
        c = _match_one(
            words[word_offsets[b] : word_offsets[b + 1]],
            extra_ids,
            extra_offsets,
            rules,
            window,
            cap,
            skipgrams,
            buf,
        )
        start = offsets[b]
        if start + c > flat.shape[0]:
            grown = np.empty(max(2 * flat.shape[0], start + c), dtype=np.int64)
            grown[:start] = flat[:start]
            flat = grown
        flat[start : start + c] = buf[:c]
        offsets[b + 1] = start + c
    return flat[: offsets[n]].copy(), offsets


def match_words(
    tables: WordTables,
    words: np.ndarray,
    word_offsets: np.ndarray,
    extra_ids: np.ndarray,
    extra_offsets: np.ndarray,
    *,
    window: int | None,
    cap: int,
    skipgrams: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Entry ids of texts given as word ids.

    Args:
        tables: The vocabulary's rules.
        words: int64 word ids of all texts, concatenated: ``0..W-1`` known words, ``W + k`` the
            ``k``-th unknown word of this batch.
        word_offsets: int64 [n + 1] text starts in ``words``.
        extra_ids: int64 flat word pieces of the batch's unknown words.
        extra_offsets: int64 [k + 1] slices of ``extra_ids``, one per unknown word.
        window: Teacher word pieces a text may span (None: no cut).
        cap: Ids per text at most.
        skipgrams: Emit skip-gram entries.

    Returns:
        ``(flat int64[total], offsets int64[n + 1])``.
    """
    t = tables
    rules = (
        t.unigram_ids,
        t.unigram_offsets,
        t.piece_counts,
        t.gram_len,
        t.skip_first,
        t.bigram_keys,
        t.bigram_ids,
        t.trigram_keys,
        t.trigram_ids,
        t.skip_keys,
        t.skip_ids,
    )
    return _match_all(
        words,
        word_offsets,
        extra_ids,
        extra_offsets,
        rules,
        0 if window is None else int(window),
        int(cap),
        bool(skipgrams),
    )
