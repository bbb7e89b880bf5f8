"""Content-addressed side files of a table: fitted codecs and numeric arrays, written once.

Layout next to a compressed table at ``URI``::

    URI/_lance_spiral/
        <sha256[:32]>.lscodec    a fitted codec (:meth:`Codec.to_bytes`)
        arrays-<sha>.npz         numeric side arrays (binary-code centre, IVF centroids)

Files are named by their content and never overwritten, so every table version keeps pointing at
the parameters it was written with (time travel and restore stay correct). Local paths and
object-store URIs both work (pyarrow file systems).
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.fs as pafs

from lance_spiral.codecs import Codec, load_codec
from lance_spiral.errors import CorruptDataError

__all__ = ["SIDE_DIR", "SideStore"]

SIDE_DIR = "_lance_spiral"


class SideStore:
    """Content-addressed side files next to the Lance data (local paths or object-store URIs)."""

    def __init__(self, uri: str) -> None:
        if "://" not in uri:
            uri = os.path.abspath(uri)
        self.fs, root = pafs.FileSystem.from_uri(uri)
        self.root = f"{root.rstrip('/')}/{SIDE_DIR}"
        self._cache: dict[str, Any] = {}

    def _write(self, prefix: str, data: bytes, suffix: str, *, named: bool = False) -> str:
        name = f"{prefix}{suffix}" if named else (
            f"{prefix}-{hashlib.sha256(data).hexdigest()[:24]}{suffix}")
        path = f"{self.root}/{name}"
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            self.fs.create_dir(self.root, recursive=True)
            tmp = f"{path}.tmp-{hashlib.sha256(path.encode()).hexdigest()[:8]}"
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, path)
        return name

    def _read(self, name: str) -> bytes:
        path = f"{self.root}/{name}"
        try:
            with self.fs.open_input_stream(path) as inp:
                return bytes(inp.read())
        except (FileNotFoundError, OSError) as exc:
            raise CorruptDataError(f"table side file {path} is missing or unreadable") from exc

    def put_codec(self, codec: Codec) -> str:
        """Store a fitted codec as ``<sha256[:32]>.lscodec`` (the name lance_spiral.arrow uses)."""
        data = codec.to_bytes()
        return self._write(hashlib.sha256(data).hexdigest()[:32], data, ".lscodec", named=True)

    def get_codec(self, name: str) -> Codec:
        """Load (and cache) the codec stored as ``name``."""
        key = f"codec:{name}"
        if key not in self._cache:
            self._cache[key] = load_codec(self._read(name))
        codec: Codec = self._cache[key]
        return codec

    def put_arrays(self, arrays: dict[str, npt.NDArray[Any]]) -> str:
        """Store named numeric arrays (``.npz`` without pickle); returns the file name."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return self._write("arrays", buf.getvalue(), ".npz")

    def get_arrays(self, name: str) -> dict[str, npt.NDArray[Any]]:
        """Load (and cache) arrays stored as ``name``."""
        key = f"arrays:{name}"
        if key not in self._cache:
            try:
                with np.load(io.BytesIO(self._read(name)), allow_pickle=False) as z:
                    self._cache[key] = {k: z[k] for k in z.files}
            except (ValueError, OSError) as exc:
                raise CorruptDataError(f"table side file {name} is corrupt: {exc}") from exc
        out: dict[str, npt.NDArray[Any]] = self._cache[key]
        return out

    def total_bytes(self) -> int:
        """Bytes of all side files."""
        sel = pafs.FileSelector(self.root, allow_not_found=True)
        return int(sum(i.size or 0 for i in self.fs.get_file_info(sel)))
