"""Build and read encoded-vector columns: codes plus the type that names their codec."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import as_codes, as_vectors
from lance_spiral.arrow.params import PARAMS_SUFFIX, remember_codec, write_params
from lance_spiral.arrow.types import (
    EXTENSION_NAME,
    METADATA_VERSION,
    EncodedVectorArray,
    EncodedVectorType,
    check_given_codec,
    codes_of,
    ext_type,
)
from lance_spiral.codecs.base import Codec
from lance_spiral.errors import DTypeError, InvalidParameterError, NotFittedError

__all__ = ["decode_column", "encoded_array", "encoded_type"]


def encoded_type(
    codec: Codec,
    *,
    params: str = "inline",
    params_dir: str | Path | None = None,
    storage: str = "list",
) -> EncodedVectorType:
    """Build the extension type for codes of a fitted ``codec``.

    Args:
        codec: A fitted codec.
        params: ``"inline"`` (codec bytes base64 in the metadata) or ``"ref"`` (a side file
            named by SHA-256; the metadata keeps only its relative path and checksum).
        params_dir: With ``params="ref"``: folder to write the side file into (e.g. next to the
            table). Without it the caller stores ``codec.to_bytes()`` and makes it findable
            (:func:`add_params_dir`); the codec stays usable in this process either way.
        storage: ``"list"`` (``fixed_size_list<uint8>``) or ``"binary"``
            (``fixed_size_binary``).

    Returns:
        The type; identical for identical codecs, so batches can be appended to one table.

    Raises:
        DTypeError: ``codec`` is not a :class:`Codec`.
        NotFittedError: The codec is not fitted.
        InvalidParameterError: Bad ``params`` or ``storage``.
    """
    if not isinstance(codec, Codec):
        raise DTypeError(f"codec must be a lance_spiral Codec, got {type(codec).__name__}")
    if not codec.fitted:
        raise NotFittedError(f"codec {codec.name!r} is not fitted: call fit() before encoding")
    if params not in ("inline", "ref"):
        raise InvalidParameterError(f"params must be 'inline' or 'ref', got {params!r}")
    data = codec.to_bytes()
    sha = hashlib.sha256(data).hexdigest()
    meta: dict[str, Any] = {
        "version": METADATA_VERSION,
        "codec": codec.name,
        "spec": codec.spec,
        "codec_format_version": int(codec.format_version),
        "code_bytes": int(codec.code_bytes),
        "dim": int(codec.dim or 0),
        "metric": codec.metric,
        "sha256": sha,
        "param_bytes": len(data),
    }
    if params == "inline":
        meta["params"] = base64.b64encode(data).decode("ascii")
    else:
        meta["params_ref"] = sha[:32] + PARAMS_SUFFIX
        if params_dir is not None:
            write_params(codec, params_dir)
    remember_codec(sha, codec)
    return EncodedVectorType(meta, storage)


def encoded_array(
    codec: Codec,
    data: Any,
    *,
    params: str = "inline",
    params_dir: str | Path | None = None,
    storage: str = "list",
) -> EncodedVectorArray:
    """Encode vectors (or wrap existing codes) into an :class:`EncodedVectorArray`.

    Args:
        codec: A fitted codec.
        data: Float vectors ``[n, dim]`` (encoded here) or ``uint8`` codes
            ``[n, code_bytes]`` (checked and wrapped).
        params: ``"inline"`` or ``"ref"`` (see :func:`encoded_type`).
        params_dir: Folder for the side file with ``params="ref"``.
        storage: ``"list"`` or ``"binary"``.

    Returns:
        The extension array.

    Raises:
        DTypeError: ``data`` is neither floating point nor uint8.
        DimensionError: Vectors of the wrong dimension.
        CorruptDataError: Codes of the wrong width.
        NonFiniteError: NaN or infinity in the vectors.
    """
    typ = encoded_type(codec, params=params, params_dir=params_dir, storage=storage)
    arr = data if isinstance(data, np.ndarray) else np.asarray(data) if data is not None else None
    if arr is None:
        raise DTypeError("data is None; expected vectors [n, dim] or uint8 codes")
    if arr.dtype == np.uint8:
        codes = as_codes(arr, code_bytes=typ.code_bytes)
    elif np.issubdtype(arr.dtype, np.floating):
        vecs = as_vectors(arr, dim=typ.dim, name="vectors", allow_empty=True)
        codes = codec.encode(vecs) if len(vecs) else np.zeros((0, typ.code_bytes), np.uint8)
    else:
        raise DTypeError(
            f"data must be float vectors or uint8 codes, got dtype {arr.dtype}"
        )
    flat = pa.array(np.ascontiguousarray(codes).reshape(-1), type=pa.uint8())
    if typ.storage_kind == "list":
        storage_arr: pa.Array = pa.FixedSizeListArray.from_arrays(flat, typ.code_bytes)
    else:
        storage_arr = pa.Array.from_buffers(
            typ.storage_type, len(codes), [None, flat.buffers()[1]]
        )
    out = pa.ExtensionArray.from_storage(typ, storage_arr)
    if not isinstance(out, EncodedVectorArray):
        raise InvalidParameterError(
            f"{EXTENSION_NAME} is registered by another class; call lance_spiral.arrow.register()"
        )
    return out


def decode_column(
    col: pa.Array | pa.ChunkedArray, codec: Codec | None = None,
    *, base_dir: str | Path | None = None,
) -> npt.NDArray[np.float32]:
    """Decode an encoded column (chunked or not) into float32 ``[n, dim]``.

    Args:
        col: A column of :class:`EncodedVectorType`.
        codec: Optional codec to use instead of the stored one.
        base_dir: Folder for resolving a referenced parameter file.

    Raises:
        DTypeError: The column is not of :class:`EncodedVectorType`.
    """
    t = ext_type(col.type)
    c = t.codec(base_dir) if codec is None else check_given_codec(codec, t)
    codes = codes_of(col)
    if codes.shape[0] == 0:
        return np.zeros((0, t.dim), dtype=np.float32)
    return c.decode(codes)
