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

import base64
import binascii
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lance_spiral._validation import as_codes, as_vectors
from lance_spiral.codecs.base import Codec
from lance_spiral.errors import (
    CorruptDataError,
    DTypeError,
    FormatVersionError,
    InvalidInputError,
    InvalidParameterError,
    NotFittedError,
    NotFoundError,
)

__all__ = [
    "EXTENSION_NAME",
    "METADATA_VERSION",
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

EXTENSION_NAME = "lance_spiral.encoded"
METADATA_VERSION = 1
PARAMS_SUFFIX = ".lscodec"
_STORAGES = ("list", "binary")
_REQUIRED = {"version": int, "codec": str, "spec": str, "code_bytes": int, "dim": int,
             "metric": str, "sha256": str}

# Codecs already loaded or created in this process, keyed by the SHA-256 of their bytes, and the
# folders searched for referenced parameter files.
_CODEC_CACHE: dict[str, Codec] = {}
_PARAMS_DIRS: list[Path] = []
_LOCK = threading.Lock()
_REGISTERED = False


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
        with _LOCK:
            cached = _CODEC_CACHE.get(sha)
        if cached is not None:
            return cached
        inline = self._meta.get("params")
        if inline is not None:
            data = _b64decode(str(inline))
        else:
            data = _read_ref(str(self._meta["params_ref"]), sha, base_dir)
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
        with _LOCK:
            _CODEC_CACHE[self.params_sha256] = codec
        return codec

    def __repr__(self) -> str:
        where = "inline" if self.params_ref is None else f"ref={self.params_ref}"
        return (f"EncodedVectorType({self.spec!r}, code_bytes={self.code_bytes}, dim={self.dim},"
                f" storage={self._storage_kind}, {where})")


class EncodedVectorArray(pa.ExtensionArray):
    """An Arrow array of codes that knows its codec: ``.codes()``, ``.decode()``, ``.codec()``."""

    def codec(self, base_dir: str | Path | None = None) -> Codec:
        """The fitted codec of this array (see :meth:`EncodedVectorType.codec`)."""
        return _ext_type(self.type).codec(base_dir)

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
        t = _ext_type(self.type)
        c = t.codec(base_dir) if codec is None else _check_given_codec(codec, t)
        if len(self) == 0:
            return np.zeros((0, t.dim), dtype=np.float32)
        return c.decode(self.codes())


# --------------------------------------------------------------------------- builders
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
    with _LOCK:
        _CODEC_CACHE.setdefault(sha, codec)
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


def write_params(codec: Codec, directory: str | Path) -> Path:
    """Write ``codec.to_bytes()`` to ``directory/<sha256>.lscodec`` (idempotent).

    Args:
        codec: A fitted codec.
        directory: Folder (created if missing), typically next to the table.

    Returns:
        The file's path. The folder is also added to the parameter search path.
    """
    data = codec.to_bytes()
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (sha[:32] + PARAMS_SUFFIX)
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    add_params_dir(folder)
    with _LOCK:
        _CODEC_CACHE.setdefault(sha, codec)
    return path


def add_params_dir(directory: str | Path) -> None:
    """Add a folder to the places searched for referenced parameter files."""
    p = Path(directory)
    with _LOCK:
        if p not in _PARAMS_DIRS:
            _PARAMS_DIRS.append(p)


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
    t = _ext_type(col.type)
    c = t.codec(base_dir) if codec is None else _check_given_codec(codec, t)
    codes = codes_of(col)
    if codes.shape[0] == 0:
        return np.zeros((0, t.dim), dtype=np.float32)
    return c.decode(codes)


# --------------------------------------------------------------------------- registration
def register() -> bool:
    """Register :class:`EncodedVectorType` with pyarrow; returns False if already registered."""
    global _REGISTERED
    with _LOCK:
        if _REGISTERED:
            return False
        try:
            pa.register_extension_type(_prototype())
        except pa.ArrowKeyError:
            # Registered by an earlier import of this module (e.g. a reload): replace it so
            # arrays get this module's classes.
            pa.unregister_extension_type(EXTENSION_NAME)
            pa.register_extension_type(_prototype())
        _REGISTERED = True
        return True


def unregister() -> bool:
    """Unregister the type; returns False if it was not registered."""
    global _REGISTERED
    with _LOCK:
        try:
            pa.unregister_extension_type(EXTENSION_NAME)
        except pa.ArrowKeyError:
            _REGISTERED = False
            return False
        _REGISTERED = False
        return True


def is_registered() -> bool:
    """Whether this module's type is currently registered with pyarrow."""
    return _REGISTERED


# --------------------------------------------------------------------------- helpers
def _prototype() -> EncodedVectorType:
    meta = {"version": METADATA_VERSION, "codec": "prototype", "spec": "prototype",
            "code_bytes": 1, "dim": 1, "metric": "ip", "sha256": "0" * 64, "params": ""}
    return EncodedVectorType(meta)


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


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CorruptDataError(f"{EXTENSION_NAME} inline parameters are not base64: {exc}") from exc


def _read_ref(ref: str, sha: str, base_dir: str | Path | None) -> bytes:
    with _LOCK:
        dirs = list(_PARAMS_DIRS)
    if base_dir is not None:
        dirs.insert(0, Path(base_dir))
    for d in dirs:
        path = d / ref
        if path.is_file():
            return path.read_bytes()
    raise NotFoundError(
        f"codec parameter file {ref!r} (sha256 {sha[:16]}...) not found in"
        f" {[str(d) for d in dirs] or 'any folder'}; pass base_dir= or call add_params_dir()"
    )


def _check_codec_matches(codec: Codec, meta: dict[str, Any]) -> None:
    if (codec.name != meta["codec"] or codec.code_bytes != meta["code_bytes"]
            or codec.dim != meta["dim"]):
        raise CorruptDataError(
            f"stored codec {codec.spec!r} (code_bytes={codec.code_bytes}, dim={codec.dim}) does"
            f" not match the column metadata {meta['spec']!r} (code_bytes={meta['code_bytes']},"
            f" dim={meta['dim']})"
        )


def _check_given_codec(codec: Codec, t: EncodedVectorType) -> Codec:
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


def _ext_type(t: pa.DataType) -> EncodedVectorType:
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


register()
