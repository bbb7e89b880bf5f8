from __future__ import annotations

from lance_spiral.embed.approximator.text import normalize, words


def test_normalize_and_words() -> None:
    assert normalize("Café ÉCOLE") == "cafe ecole"
    assert words("Hello, World! e.g. naïve") == [
        "hello",
        ",",
        "world",
        "!",
        "e",
        ".",
        "g",
        ".",
        "naive",
    ]
