"""Text normalisation shared by the approximator's tokeniser and vocabulary mining.

The normal form is BERT-uncased's (lower case, accents stripped), so mined entries, the teacher's
word pieces and the runtime tokeniser all see the same words.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["KINDS", "SKIP", "normalize", "words"]

KINDS = ("pad", "piece", "word", "ngram", "skip")
SKIP = "_"
_WORD_RE = re.compile(r"[^\W_]+|[^\w\s]|_")
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalize(text: str) -> str:
    """Lower-case, strip accents (NFD, drop combining marks) -- the BERT-uncased normal form.

    Args:
        text: Any string.

    Returns:
        The normalised string.
    """
    text = text.lower()
    if text.isascii():
        return text
    return _MARKS.sub("", unicodedata.normalize("NFD", text))


def words(text: str) -> list[str]:
    """Split normalised text into words and single punctuation marks.

    Args:
        text: Raw text (normalised here).

    Returns:
        The word list.
    """
    return _WORD_RE.findall(normalize(text))
