"""Vector codecs: one protocol (:class:`Codec`), a registry by name, and the built-in codecs."""

from lance_spiral.codecs.base import Codec, normalize_rows

# Built-in codecs register themselves on import (one line per module below).
from lance_spiral.codecs.binary import BinaryQuantizer
from lance_spiral.codecs.float16 import Float16Codec
from lance_spiral.codecs.lossless import LosslessCodec
from lance_spiral.codecs.product import ProductQuantizer
from lance_spiral.codecs.registry import (
    available_codecs,
    get_codec_class,
    load_codec,
    make_codec,
    parse_spec,
    register_codec,
)
from lance_spiral.codecs.residual import ResidualQuantizer
from lance_spiral.codecs.scalar import ScalarQuantizer
from lance_spiral.codecs.spiral import SpiralCodec, ordering_report
from lance_spiral.codecs.tuner import TunerResult, choose_codec

__all__ = [
    "BinaryQuantizer",
    "Codec",
    "Float16Codec",
    "LosslessCodec",
    "ProductQuantizer",
    "ResidualQuantizer",
    "ScalarQuantizer",
    "SpiralCodec",
    "TunerResult",
    "available_codecs",
    "choose_codec",
    "get_codec_class",
    "load_codec",
    "make_codec",
    "normalize_rows",
    "ordering_report",
    "parse_spec",
    "register_codec",
]
