"""lance-spiral: compact embedding storage and search on Lance, and a fast approximator embedder.

The public faces live in sub-packages: :mod:`lance_spiral.codecs` (vector codecs),
:mod:`lance_spiral.arrow` (Arrow extension types), :mod:`lance_spiral.table` (compressed Lance
tables), :mod:`lance_spiral.embed` (embedders and caches), :mod:`lance_spiral.bench`.
"""

from lance_spiral import errors
from lance_spiral.codecs import Codec, available_codecs, load_codec, make_codec

__version__ = "0.1.0"

__all__ = ["Codec", "__version__", "available_codecs", "errors", "load_codec", "make_codec"]
