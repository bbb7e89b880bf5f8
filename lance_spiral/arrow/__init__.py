"""Arrow extension type for encoded vectors: codes that keep their codec through IPC and Lance.

Importing this package registers the type with pyarrow (see :mod:`lance_spiral.arrow.types` for
the metadata layout and :mod:`lance_spiral.arrow.params` for referenced parameter files).
"""

from lance_spiral.arrow.columns import decode_column, encoded_array, encoded_type
from lance_spiral.arrow.params import PARAMS_SUFFIX, add_params_dir, write_params
from lance_spiral.arrow.registration import is_registered, register, unregister
from lance_spiral.arrow.types import (
    EXTENSION_NAME,
    METADATA_VERSION,
    EncodedVectorArray,
    EncodedVectorType,
    codes_of,
)

register()

__all__ = [
    "EXTENSION_NAME",
    "METADATA_VERSION",
    "PARAMS_SUFFIX",
    "EncodedVectorArray",
    "EncodedVectorType",
    "add_params_dir",
    "codes_of",
    "decode_column",
    "encoded_array",
    "encoded_type",
    "is_registered",
    "register",
    "unregister",
    "write_params",
]
