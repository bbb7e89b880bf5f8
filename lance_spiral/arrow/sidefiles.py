"""Content-addressed side files of a table: fitted codecs and numeric arrays, written once.

Layout next to a compressed table at ``URI``::

    URI/_lance_spiral/
        <sha256[:32]>.lscodec    a fitted codec (:meth:`Codec.to_bytes`)
        arrays-<sha>.npz         numeric side arrays (binary-code centre, IVF centroids)

Files are named by their content and never overwritten, so every table version keeps pointing at
the parameters it was written with (time travel and restore stay correct). A file is checked
against its name when read (an edited or truncated file is :class:`CorruptDataError`, never a
wrong codec), and only names of these two forms are accepted: table metadata cannot point a
reader outside the table's ``_lance_spiral/`` folder.

Local paths and object-store URIs both work (pyarrow file systems). For ``s3://`` the file system
is built from the same ``storage_options`` Lance takes (``aws_endpoint``, ``allow_http``,
``aws_region``, ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``); they
are kept in the file system object only, never in messages.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.fs as pafs

from lance_spiral.codecs import Codec, load_codec
from lance_spiral.errors import CorruptDataError, InvalidParameterError

__all__ = ["SIDE_DIR", "SideStore", "filesystem", "side_file_name"]

SIDE_DIR = "_lance_spiral"
_CODEC_NAME = re.compile(r"([0-9a-f]{32})\.lscodec")
_ARRAYS_NAME = re.compile(r"arrays-([0-9a-f]{24})\.npz")
_TRUE = ("1", "true", "yes", "on")

# Lance (object_store) option names -> pyarrow S3FileSystem arguments.
_S3_KEYS = {
    "aws_access_key_id": "access_key", "access_key_id": "access_key",
    "aws_secret_access_key": "secret_key", "secret_access_key": "secret_key",
    "aws_session_token": "session_token", "session_token": "session_token",
    "aws_region": "region", "region": "region",
    "aws_endpoint": "endpoint_override", "endpoint": "endpoint_override",
    "aws_endpoint_url": "endpoint_override", "endpoint_url": "endpoint_override",
}


def side_file_name(name: Any) -> bool:
    """Whether ``name`` is a side-file name this library writes (a plain, content-hash name)."""
    return isinstance(name, str) and bool(_CODEC_NAME.fullmatch(name)
                                          or _ARRAYS_NAME.fullmatch(name))


def filesystem(uri: str, storage_options: dict[str, str] | None = None
               ) -> tuple[pafs.FileSystem, str]:
    """The pyarrow file system and path of ``uri`` (built from Lance ``storage_options``).

    Raises:
        InvalidParameterError: ``storage_options`` not a dict of strings, or given for a scheme
            other than ``s3://`` (their meaning there is not known here).
    """
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), os.path.abspath(uri[len("file://"):])
    if not storage_options:
        return pafs.FileSystem.from_uri(uri)
    if not isinstance(storage_options, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in storage_options.items()):
        raise InvalidParameterError("storage_options must be a dict of str -> str")
    scheme, _, rest = uri.partition("://")
    if scheme not in ("s3", "s3a"):
        raise InvalidParameterError(
            f"storage_options are supported for s3:// URIs here, not {scheme}://")
    kwargs: dict[str, Any] = {}
    for key, value in storage_options.items():
        arg = _S3_KEYS.get(key.lower())
        if arg is not None:
            kwargs[arg] = value
    endpoint = kwargs.get("endpoint_override")
    if endpoint is not None:
        http = endpoint.startswith("http://")
        kwargs["endpoint_override"] = endpoint.split("://", 1)[-1]
        allow = storage_options.get("allow_http", storage_options.get("aws_allow_http", ""))
        kwargs["scheme"] = "http" if http or allow.lower() in _TRUE else "https"
    virtual = storage_options.get("aws_virtual_hosted_style_request",
                                  storage_options.get("virtual_hosted_style_request", ""))
    if virtual.lower() in _TRUE:
        kwargs["force_virtual_addressing"] = True
    return pafs.S3FileSystem(**kwargs), rest


class SideStore:
    """Content-addressed side files next to the Lance data (local paths or object-store URIs).

    Args:
        uri: The table URI.
        storage_options: Lance storage options for object stores (credentials, endpoint...).
    """

    def __init__(self, uri: str, *, storage_options: dict[str, str] | None = None) -> None:
        self.fs, root = filesystem(uri, storage_options)
        self.root = f"{root.rstrip('/')}/{SIDE_DIR}"
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"SideStore({self.root!r})"

    def _path(self, name: Any) -> str:
        if not side_file_name(name):
            raise CorruptDataError(
                f"table metadata names the side file {name!r}, which is not a lance-spiral side"
                f" file inside {self.root} (corrupt or edited metadata)")
        return f"{self.root}/{name}"

    def _write(self, name: str, data: bytes) -> str:
        path = self._path(name)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            self.fs.create_dir(self.root, recursive=True)
            tmp = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, path)
        return name

    def _read(self, name: str) -> bytes:
        path = self._path(name)
        try:
            with self.fs.open_input_stream(path) as inp:
                data = bytes(inp.read())
        except (FileNotFoundError, OSError) as exc:
            raise CorruptDataError(f"table side file {path} is missing or unreadable") from exc
        match = _CODEC_NAME.fullmatch(name) or _ARRAYS_NAME.fullmatch(name)
        digest = hashlib.sha256(data).hexdigest()
        if match is None or not digest.startswith(match.group(1)):
            raise CorruptDataError(
                f"table side file {path} does not match its content hash ({len(data)} bytes):"
                " truncated or edited")
        return data

    def put_codec(self, codec: Codec) -> str:
        """Store a fitted codec as ``<sha256[:32]>.lscodec`` (the name lance_spiral.arrow uses)."""
        data = codec.to_bytes()
        return self._write(hashlib.sha256(data).hexdigest()[:32] + ".lscodec", data)

    def get_codec(self, name: str) -> Codec:
        """Load (and cache) the codec stored as ``name``.

        Raises:
            CorruptDataError: Missing, edited or truncated file, or a bad name.
        """
        key = f"codec:{name}"
        if key not in self._cache:
            data = self._read(name)
            try:
                self._cache[key] = load_codec(data)
            except CorruptDataError as exc:
                raise CorruptDataError(f"table side file {self._path(name)}: {exc}") from exc
        codec: Codec = self._cache[key]
        return codec

    def put_arrays(self, arrays: dict[str, npt.NDArray[Any]]) -> str:
        """Store named numeric arrays (``.npz`` without pickle); returns the file name."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        data = buf.getvalue()
        return self._write(f"arrays-{hashlib.sha256(data).hexdigest()[:24]}.npz", data)

    def get_arrays(self, name: str) -> dict[str, npt.NDArray[Any]]:
        """Load (and cache) arrays stored as ``name``.

        Raises:
            CorruptDataError: Missing, edited or truncated file, or a bad name.
        """
        key = f"arrays:{name}"
        if key not in self._cache:
            data = self._read(name)
            try:
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    self._cache[key] = {k: z[k] for k in z.files}
            except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
                raise CorruptDataError(
                    f"table side file {self._path(name)} is corrupt: {exc}") from exc
        out: dict[str, npt.NDArray[Any]] = self._cache[key]
        return out

    def total_bytes(self) -> int:
        """Bytes of all side files."""
        sel = pafs.FileSelector(self.root, allow_not_found=True)
        return int(sum(i.size or 0 for i in self.fs.get_file_info(sel)))
