"""Vector codecs: one protocol (:class:`Codec`), a registry by name, and the built-in codecs."""

from lance_spiral.codecs.base import Codec, normalize_rows
from lance_spiral.codecs.registry import (
    available_codecs,
    get_codec_class,
    load_codec,
    make_codec,
    parse_spec,
    register_codec,
)

# Built-in codecs register themselves on import (one line per module below).

__all__ = [
    "Codec",
    "available_codecs",
    "get_codec_class",
    "load_codec",
    "make_codec",
    "normalize_rows",
    "parse_spec",
    "register_codec",
]
