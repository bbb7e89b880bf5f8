"""The binary container a fitted codec is stored in: a JSON header plus raw arrays, checked whole.

Layout of container version 2 (written by this build)::

    b"LSCODEC2"                     8 bytes: magic, the last byte is the container version
    header_len   uint32 LE          4 bytes
    payload_len  uint64 LE          8 bytes
    header       UTF-8 JSON         header_len bytes: codec name, format_version, params, dim,
                                    state, and a manifest of the arrays (name, dtype, shape,
                                    offset, nbytes)
    payload      raw LE arrays      payload_len bytes
    crc32        uint32 LE          4 bytes: CRC32 of every byte before it

The checksum covers the header as well as the payload: a changed parameter in the header (say
``"bits":8`` edited to ``4``) fails the check instead of loading a different codec. Lengths are
stated up front, so a truncated or padded file is told apart from a corrupt one.

Version 1 (``b"LSCODEC1"``, written up to commit 36e0385) had no length of the payload and kept
a CRC32 of the payload only inside the header; it is still read (:func:`read_container`), with
its header checked for consistency but not covered by any checksum, as it never was.

Never pickle: arrays are rebuilt from dtype, shape and bytes, with dtypes from a fixed list.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from typing import Any

import numpy as np

from lance_spiral.errors import CorruptDataError, FormatVersionError

__all__ = ["CONTAINER_VERSION", "MAGIC", "MAGIC_V1", "pack_container", "read_container"]

CONTAINER_VERSION = 2
_MAGIC_STEM = b"LSCODEC"
MAGIC = _MAGIC_STEM + b"2"
MAGIC_V1 = _MAGIC_STEM + b"1"
_V2_PREFIX = struct.Struct("<IQ")  # header_len, payload_len
_CRC = struct.Struct("<I")
ALLOWED_DTYPES = frozenset({"uint8", "int8", "uint16", "int16", "uint32", "int32", "int64",
                            "uint64", "float16", "float32", "float64"})


def pack_container(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise ``header`` (JSON-able, without ``arrays``) and ``arrays`` as container v2.

    Args:
        header: Codec name, format_version, params, dim, state (anything JSON-serialisable).
        arrays: Named numpy arrays of the dtypes in :data:`ALLOWED_DTYPES`.

    Returns:
        The container bytes.

    Raises:
        CorruptDataError: An array has a dtype the container cannot hold (a codec bug).
    """
    manifest, blobs, offset = [], [], 0
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.name not in ALLOWED_DTYPES:
            raise CorruptDataError(f"codec array {name!r} has unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        manifest.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape),
                         "offset": offset, "nbytes": len(raw)})
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps({**header, "arrays": manifest}, separators=(",", ":")).encode("utf-8")
    body = MAGIC + _V2_PREFIX.pack(len(hb), offset) + hb + b"".join(blobs)
    return body + _CRC.pack(zlib.crc32(body))


def read_container(data: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse container bytes (version 1 or 2) into ``(header, arrays)``, checking them whole.

    Raises:
        CorruptDataError: Not codec data, truncated, padded, failed checksum, or a header that
            does not describe its payload; the message says which.
        FormatVersionError: A container version newer than this build reads.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    if not isinstance(data, bytes | bytearray):
        raise CorruptDataError(f"codec data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC):
        raise CorruptDataError(
            f"codec data is truncated: {len(data)} bytes, shorter than its {len(MAGIC)}-byte magic")
    if not data.startswith(_MAGIC_STEM):
        raise CorruptDataError("not lance-spiral codec data (bad magic)")
    tag = data[len(_MAGIC_STEM):len(MAGIC)]
    if tag == b"2":
        header, payload = _split_v2(data)
    elif tag == b"1":
        header, payload = _split_v1(data)
    elif tag.isdigit():
        raise FormatVersionError(
            f"codec container version {tag.decode()} is newer than this build reads"
            f" (1..{CONTAINER_VERSION}): upgrade lance-spiral")
    else:
        raise CorruptDataError(f"not lance-spiral codec data (bad magic {data[:8]!r})")
    return header, _arrays(header, payload)


def _split_v2(data: bytes) -> tuple[dict[str, Any], bytes]:
    start = len(MAGIC) + _V2_PREFIX.size
    if len(data) < start + _CRC.size:
        raise CorruptDataError(
            f"codec data is truncated: {len(data)} bytes, shorter than the fixed header")
    hlen, plen = _V2_PREFIX.unpack_from(data, len(MAGIC))
    total = start + hlen + plen + _CRC.size
    (stored,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    intact = zlib.crc32(data[: len(data) - _CRC.size]) == stored
    if len(data) != total:
        if intact:  # a sealed file whose own lengths are wrong: written wrong, not damaged
            raise CorruptDataError(
                f"codec data's length fields announce {total} bytes but it holds {len(data)}")
        what = "truncated" if len(data) < total else "padded"
        raise CorruptDataError(
            f"codec data is {what} (or its length fields are corrupt): {len(data)} bytes,"
            f" its header announces {total}")
    if not intact:
        raise CorruptDataError(
            "codec data failed its CRC32 check: the header or the parameters are corrupt")
    return _parse_header(data[start:start + hlen]), data[start + hlen:start + hlen + plen]


def _split_v1(data: bytes) -> tuple[dict[str, Any], bytes]:
    start = len(MAGIC_V1) + 4
    if len(data) < start:
        raise CorruptDataError("codec data is truncated (v1 header length)")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC_V1))
    if start + hlen > len(data):
        raise CorruptDataError(
            f"codec data is truncated: {len(data)} bytes, the v1 header alone announces"
            f" {start + hlen}")
    header = _parse_header(data[start:start + hlen])
    payload = data[start + hlen:]
    expected = _manifest_bytes(header)
    if len(payload) != expected:
        raise CorruptDataError(
            f"codec data is truncated or padded: {len(payload)} payload bytes, expected"
            f" {expected}")
    if zlib.crc32(payload) != header.get("crc32"):
        raise CorruptDataError("codec data failed its CRC32 check (corrupt parameters)")
    return header, payload


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptDataError(f"corrupt codec header (not UTF-8 JSON): {exc}") from exc
    if not isinstance(header, dict):
        raise CorruptDataError("corrupt codec header: not a JSON object")
    for key in ("codec", "arrays"):
        if key not in header:
            raise CorruptDataError(f"corrupt codec header: no {key!r} field")
    if not isinstance(header["arrays"], list):
        raise CorruptDataError("corrupt codec header: 'arrays' is not a list")
    return header


def _count(v: Any) -> int | None:
    """``v`` when it is a non-negative int (not a bool), else None."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _manifest_bytes(header: dict[str, Any]) -> int:
    total = 0
    for m in header["arrays"]:
        nbytes = _count(m.get("nbytes")) if isinstance(m, dict) else None
        if nbytes is None:
            raise CorruptDataError(f"corrupt codec header: bad array entry {m!r}")
        total += nbytes
    return total


def _arrays(header: dict[str, Any], payload: bytes) -> dict[str, np.ndarray]:
    """Rebuild the arrays, checking every manifest entry against the payload."""
    arrays: dict[str, np.ndarray] = {}
    for m in header["arrays"]:
        if not isinstance(m, dict):
            raise CorruptDataError(f"corrupt codec header: bad array entry {m!r}")
        name, dtype, shape = m.get("name"), m.get("dtype"), m.get("shape")
        off, nb = m.get("offset"), m.get("nbytes")
        if not isinstance(name, str) or name in arrays:
            raise CorruptDataError(f"codec array name {name!r} is missing or repeated")
        if dtype not in ALLOWED_DTYPES:
            raise CorruptDataError(f"codec array {name!r} has bad dtype {dtype!r}")
        if not (isinstance(shape, list) and all(_count(s) is not None for s in shape)):
            raise CorruptDataError(f"codec array {name!r} has a bad shape {shape!r}")
        start, size = _count(off), _count(nb)
        if start is None or size is None:
            raise CorruptDataError(f"codec array {name!r} has a bad offset or size")
        dt = np.dtype(dtype).newbyteorder("<")
        if math.prod(shape) * dt.itemsize != size or start + size > len(payload):
            raise CorruptDataError(
                f"codec array {name!r} ({dtype}{shape}, {size} bytes at {start}) does not fit"
                f" the {len(payload)}-byte payload")
        arr = np.frombuffer(payload, dtype=dt, count=size // dt.itemsize, offset=start)
        arrays[name] = arr.reshape(shape).astype(dt.newbyteorder("="), copy=True)
    return arrays
