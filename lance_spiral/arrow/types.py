"""Arrow extension type for encoded vectors: codes keep their codec through IPC, Parquet, Lance.

A column of encoded vectors is an :class:`EncodedVectorType` (extension name
``lance_spiral.encoded``) over ``fixed_size_list<uint8>[code_bytes]`` (the default: Lance can
flat-search it with hamming, and every client reads it as a plain list of bytes) or
``fixed_size_binary(code_bytes)`` (``storage="binary"``: Lance compresses it a little better).

The type's metadata is UTF-8 JSON naming the codec, its spec, the metadata format version,
``code_bytes``, ``dim``, the metric, the SHA-256 of the serialised codec, and either

* ``"params"``: the serialised codec inline, base64 (``params="inline"``; fine for small
  codecs such as ``sq`` or ``float16``), or
* ``"params_ref"``: a relative path to a side file holding :meth:`Codec.to_bytes` output
  (``params="ref"``). Lance copies schema metadata into every manifest version, so codebooks
  of product or residual quantisers belong in a side file written next to the table.

A reader without this plugin still sees the storage bytes plus ``ARROW:extension:name`` and
``ARROW:extension:metadata``: nothing is lost. Importing this module registers the type.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral.arrow.params import (
    PARAMS_SUFFIX,
    decode_inline,
    known_codec,
    read_params_ref,
    remember_codec,
)
from lance_spiral.codecs.base import Codec
from lance_spiral.errors import (
    CorruptDataError,
    DTypeError,
    FormatVersionError,
    InvalidInputError,
    InvalidParameterError,
    NotFittedError,
)

__all__ = [
    "EXTENSION_NAME",
    "METADATA_VERSION",
    "EncodedVectorArray",
    "EncodedVectorType",
    "check_given_codec",
    "codes_of",
    "ext_type",
]

EXTENSION_NAME = "lance_spiral.encoded"
METADATA_VERSION = 1
_STORAGES = ("list", "binary")
_REQUIRED = {"version": int, "codec": str, "spec": str, "code_bytes": int, "dim": int,
             "metric": str, "sha256": str}


# --------------------------------------------------------------------------- the type
class EncodedVectorType(pa.ExtensionType):
    """Arrow extension type of a column of fixed-width codes produced by one fitted codec.

    Build one with :func:`encoded_type` (or :func:`encoded_array`); the constructor takes the
    already-validated metadata dictionary.
    """

    def __init__(self, meta: dict[str, Any], storage: str = "list") -> None:
        """Create the type from validated metadata.

        Args:
            meta: Metadata dictionary (see the module docstring); validated here.
            storage: ``"list"`` for ``fixed_size_list<uint8>`` or ``"binary"`` for
                ``fixed_size_binary``.

        Raises:
            CorruptDataError: If the metadata is inconsistent.
            FormatVersionError: If it was written by a newer metadata format.
            InvalidParameterError: For an unknown ``storage``.
        """
        if storage not in _STORAGES:
            raise InvalidParameterError(f"storage must be one of {_STORAGES}, got {storage!r}")
        self._meta = _validate_meta(meta)
        cb = int(self._meta["code_bytes"])
        st = pa.list_(pa.uint8(), cb) if storage == "list" else pa.binary(cb)
        self._storage_kind = storage
        super().__init__(st, EXTENSION_NAME)

    # pyarrow hooks ----------------------------------------------------------
    def __arrow_ext_serialize__(self) -> bytes:
        return json.dumps(self._meta, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def __arrow_ext_deserialize__(
        cls, storage_type: pa.DataType, serialized: bytes
    ) -> EncodedVectorType:
        try:
            meta = json.loads(bytes(serialized).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptDataError(
                f"{EXTENSION_NAME} metadata is not valid UTF-8 JSON: {exc}"
            ) from exc
        if not isinstance(meta, dict):
            raise CorruptDataError(f"{EXTENSION_NAME} metadata must be a JSON object")
        meta = _validate_meta(meta)
        cb = int(meta["code_bytes"])
        if pa.types.is_fixed_size_list(storage_type) and storage_type.value_type == pa.uint8():
            kind, width = "list", storage_type.list_size
        elif pa.types.is_fixed_size_binary(storage_type):
            kind, width = "binary", storage_type.byte_width
        else:
            raise CorruptDataError(
                f"{EXTENSION_NAME} storage must be fixed_size_list<uint8> or fixed_size_binary,"
                f" got {storage_type}"
            )
        if width != cb:
            raise CorruptDataError(
                f"{EXTENSION_NAME} storage width {width} does not match code_bytes={cb}"
            )
        return cls(meta, kind)

    def __arrow_ext_class__(self) -> type[pa.ExtensionArray]:
        return EncodedVectorArray

    def __reduce__(self) -> tuple[Any, ...]:
        return (EncodedVectorType, (dict(self._meta), self._storage_kind))

    # accessors ----------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the metadata dictionary."""
        return dict(self._meta)

    @property
    def codec_name(self) -> str:
        """Registry name of the codec (``"sq"``, ``"pq"``...)."""
        return str(self._meta["codec"])

    @property
    def spec(self) -> str:
        """The codec's spec string."""
        return str(self._meta["spec"])

    @property
    def code_bytes(self) -> int:
        """Bytes per code."""
        return int(self._meta["code_bytes"])

    @property
    def dim(self) -> int:
        """Dimension of the decoded vectors."""
        return int(self._meta["dim"])

    @property
    def metric(self) -> str:
        """The codec's metric."""
        return str(self._meta["metric"])

    @property
    def storage_kind(self) -> str:
        """``"list"`` or ``"binary"``."""
        return self._storage_kind

    @property
    def params_sha256(self) -> str:
        """SHA-256 (hex) of the serialised codec."""
        return str(self._meta["sha256"])

    @property
    def params_ref(self) -> str | None:
        """Relative path of the side file holding the codec, or ``None`` when inline."""
        ref = self._meta.get("params_ref")
        return None if ref is None else str(ref)

    def codec(self, base_dir: str | Path | None = None) -> Codec:
        """Return the fitted codec this column was encoded with.

        Args:
            base_dir: Folder against which a ``params_ref`` is resolved (besides the folders
                given to :func:`add_params_dir`). Ignored for inline parameters.

        Returns:
            The codec (cached per process by the SHA-256 of its bytes).

        Raises:
            NotFoundError: A referenced parameter file cannot be found.
            CorruptDataError: The parameters do not match their checksum or the metadata.
        """
        sha = self.params_sha256
        cached = known_codec(sha)
        if cached is not None:
            return cached
        inline = self._meta.get("params")
        if inline is not None:
            data = decode_inline(str(inline))
        else:
            data = read_params_ref(str(self._meta["params_ref"]), sha, base_dir)
        return self._load_checked(data)

    def _load_checked(self, data: bytes) -> Codec:
        from lance_spiral.codecs.registry import load_codec

        if hashlib.sha256(data).hexdigest() != self.params_sha256:
            raise CorruptDataError(
                f"codec parameters for {self.spec!r} do not match their SHA-256 (corrupt or"
                " replaced parameter file)"
            )
        codec = load_codec(data)
        _check_codec_matches(codec, self._meta)
        remember_codec(self.params_sha256, codec, replace=True)
        return codec

    def __repr__(self) -> str:
        where = "inline" if self.params_ref is None else f"ref={self.params_ref}"
        return (f"EncodedVectorType({self.spec!r}, code_bytes={self.code_bytes}, dim={self.dim},"
                f" storage={self._storage_kind}, {where})")


class EncodedVectorArray(pa.ExtensionArray):
    """An Arrow array of codes that knows its codec: ``.codes()``, ``.decode()``, ``.codec()``."""

    def codec(self, base_dir: str | Path | None = None) -> Codec:
        """The fitted codec of this array (see :meth:`EncodedVectorType.codec`)."""
        return ext_type(self.type).codec(base_dir)

    def codes(self) -> npt.NDArray[np.uint8]:
        """The codes as ``uint8[len, code_bytes]`` (a copy only when the storage needs one).

        Raises:
            InvalidInputError: If the array holds nulls.
        """
        return codes_of(self)

    def decode(
        self, codec: Codec | None = None, *, base_dir: str | Path | None = None
    ) -> npt.NDArray[np.float32]:
        """Decode to float32 ``[len, dim]``.

        Args:
            codec: A fitted codec to use instead of the stored one; it must match the column
                (name, ``code_bytes``, ``dim``).
            base_dir: Folder for resolving a referenced parameter file.

        Returns:
            The decoded vectors.

        Raises:
            InvalidParameterError: ``codec`` does not match the column.
        """
        t = ext_type(self.type)
        c = t.codec(base_dir) if codec is None else check_given_codec(codec, t)
        if len(self) == 0:
            return np.zeros((0, t.dim), dtype=np.float32)
        return c.decode(self.codes())


def codes_of(arr: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.uint8]:
    """Return the codes of an encoded (or storage-typed) array as ``uint8[n, code_bytes]``.

    Works on :class:`EncodedVectorArray`, chunked arrays of it, and on the bare storage that a
    reader without the plugin sees (``fixed_size_list<uint8>`` / ``fixed_size_binary``).

    Raises:
        InvalidInputError: Nulls in the column.
        DTypeError: Not a code column.
    """
    if isinstance(arr, pa.ChunkedArray):
        width = _storage_width(arr.type)
        if arr.num_chunks == 0:
            return np.zeros((0, width), dtype=np.uint8)
        return np.concatenate([codes_of(c) for c in arr.chunks], axis=0)
    if not isinstance(arr, pa.Array):
        raise DTypeError(f"expected a pyarrow Array, got {type(arr).__name__}")
    storage = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    width = _storage_width(storage.type)
    if storage.null_count:
        raise InvalidInputError(f"code column holds {storage.null_count} null(s)")
    n = len(storage)
    if pa.types.is_fixed_size_list(storage.type):
        values = storage.flatten()
        if values.null_count:
            raise InvalidInputError("code column holds null bytes inside codes")
        flat = values.to_numpy(zero_copy_only=False)
    else:
        buf = storage.buffers()[1]
        start = storage.offset * width
        flat = np.frombuffer(buf, dtype=np.uint8, count=n * width, offset=start) if n else \
            np.zeros(0, dtype=np.uint8)
    return np.asarray(flat, dtype=np.uint8).reshape(n, width)



# --------------------------------------------------------------------------- helpers
def _validate_meta(meta: dict[str, Any]) -> dict[str, Any]:
    version = meta.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > METADATA_VERSION:
        raise FormatVersionError(
            f"{EXTENSION_NAME} metadata has format version {version}; this build reads up to"
            f" {METADATA_VERSION} (upgrade lance-spiral?)"
        )
    for key, typ in _REQUIRED.items():
        value = meta.get(key)
        if not isinstance(value, typ) or isinstance(value, bool):
            raise CorruptDataError(
                f"{EXTENSION_NAME} metadata field {key!r} is missing or not {typ.__name__}:"
                f" {value!r}"
            )
    if meta["version"] < 1:
        raise FormatVersionError(f"{EXTENSION_NAME} metadata version {meta['version']} is invalid")
    if meta["code_bytes"] < 1 or meta["dim"] < 1:
        raise CorruptDataError(
            f"{EXTENSION_NAME} metadata has code_bytes={meta['code_bytes']}, dim={meta['dim']}"
        )
    has_inline = isinstance(meta.get("params"), str)
    has_ref = isinstance(meta.get("params_ref"), str)
    if has_inline == has_ref:
        raise CorruptDataError(
            f"{EXTENSION_NAME} metadata must hold exactly one of 'params' (inline) or"
            " 'params_ref'"
        )
    if has_ref:
        ref = str(meta["params_ref"])
        if "/" in ref or "\\" in ref or ref.startswith(".") or not ref.endswith(PARAMS_SUFFIX):
            raise CorruptDataError(f"{EXTENSION_NAME} params_ref {ref!r} is not a plain file name")
    return dict(meta)


def _check_codec_matches(codec: Codec, meta: dict[str, Any]) -> None:
    if (codec.name != meta["codec"] or codec.code_bytes != meta["code_bytes"]
            or codec.dim != meta["dim"]):
        raise CorruptDataError(
            f"stored codec {codec.spec!r} (code_bytes={codec.code_bytes}, dim={codec.dim}) does"
            f" not match the column metadata {meta['spec']!r} (code_bytes={meta['code_bytes']},"
            f" dim={meta['dim']})"
        )


def check_given_codec(codec: Codec, t: EncodedVectorType) -> Codec:
    """``codec`` if it is fitted and matches the column type (name, code bytes, dim)."""
    if not isinstance(codec, Codec):
        raise DTypeError(f"codec must be a lance_spiral Codec, got {type(codec).__name__}")
    if not codec.fitted:
        raise NotFittedError(f"codec {codec.name!r} is not fitted")
    if codec.name != t.codec_name or codec.code_bytes != t.code_bytes or codec.dim != t.dim:
        raise InvalidParameterError(
            f"codec {codec.spec!r} (code_bytes={codec.code_bytes}, dim={codec.dim}) does not"
            f" match the column's {t.spec!r} (code_bytes={t.code_bytes}, dim={t.dim})"
        )
    return codec


def ext_type(t: pa.DataType) -> EncodedVectorType:
    """``t`` as an :class:`EncodedVectorType` (DTypeError for any other type)."""
    if not isinstance(t, EncodedVectorType):
        raise DTypeError(
            f"column type {t} is not {EXTENSION_NAME} (was lance_spiral.arrow imported before"
            " reading?)"
        )
    return t


def _storage_width(t: pa.DataType) -> int:
    if isinstance(t, pa.ExtensionType):
        t = t.storage_type
    if pa.types.is_fixed_size_list(t) and t.value_type == pa.uint8():
        return int(t.list_size)
    if pa.types.is_fixed_size_binary(t):
        return int(t.byte_width)
    raise DTypeError(f"{t} is not a code column (fixed_size_list<uint8> or fixed_size_binary)")
