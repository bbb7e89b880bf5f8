"""Codec parameter files: where a column's referenced codec lives, and a per-process cache.

A column whose codec is too large for Arrow metadata names a side file
``<sha256[:32]>.lscodec`` holding :meth:`Codec.to_bytes`; readers look for it in the folders
given to :func:`add_params_dir` (a table adds its own side-file folder) or in ``base_dir``.
Codecs already loaded are cached by the SHA-256 of their bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from pathlib import Path

from lance_spiral.codecs.base import Codec
from lance_spiral.errors import CorruptDataError, NotFoundError

__all__ = [
    "PARAMS_SUFFIX",
    "add_params_dir",
    "decode_inline",
    "forget_codec",
    "known_codec",
    "read_params_ref",
    "remember_codec",
    "write_params",
]

PARAMS_SUFFIX = ".lscodec"

_CODEC_CACHE: dict[str, Codec] = {}
_PARAMS_DIRS: list[Path] = []
_LOCK = threading.Lock()


def known_codec(sha: str) -> Codec | None:
    """The codec of this SHA-256 if this process has loaded or created it."""
    with _LOCK:
        return _CODEC_CACHE.get(sha)


def forget_codec(sha: str) -> None:
    """Drop a codec from this process's cache (the next read loads its parameters again)."""
    with _LOCK:
        _CODEC_CACHE.pop(sha, None)


def remember_codec(sha: str, codec: Codec, *, replace: bool = False) -> None:
    """Cache ``codec`` under the SHA-256 of its bytes."""
    with _LOCK:
        if replace:
            _CODEC_CACHE[sha] = codec
        else:
            _CODEC_CACHE.setdefault(sha, codec)


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
    remember_codec(sha, codec)
    return path


def add_params_dir(directory: str | Path) -> None:
    """Add a folder to the places searched for referenced parameter files."""
    p = Path(directory)
    with _LOCK:
        if p not in _PARAMS_DIRS:
            _PARAMS_DIRS.append(p)


def decode_inline(text: str) -> bytes:
    """Bytes of base64 inline parameters (CorruptDataError when not base64)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CorruptDataError(
            f"lance_spiral.encoded inline parameters are not base64: {exc}") from exc


def read_params_ref(ref: str, sha: str, base_dir: str | Path | None) -> bytes:
    """Bytes of the referenced parameter file, searched in ``base_dir`` and the added folders."""
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
