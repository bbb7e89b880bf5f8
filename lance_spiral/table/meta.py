"""Table metadata: a small JSON record in the Lance schema, plus content-addressed side files.

Layout of a compressed table at ``URI`` (a plain Lance dataset directory)::

    URI/                         the Lance dataset (data/, _versions/, _indices/, ...)
    URI/_lance_spiral/           side files, written once, named by their content hash
        <sha>.lscodec            a fitted codec (:meth:`Codec.to_bytes`)
        arrays-<sha>.npy...      numeric side arrays (binary-code centre, IVF centroids)

The Lance schema metadata key ``lance_spiral`` holds a JSON :class:`TableMeta` of a few hundred
bytes that *references* the side files (schema metadata is copied into every manifest, so no
parameter blob goes there). Because side files are never overwritten, every table version keeps
pointing at the parameters it was written with: time travel and restore stay correct.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.fs as pafs

from lance_spiral.codecs import Codec, load_codec
from lance_spiral.errors import CorruptDataError, FormatVersionError, NotFoundError

__all__ = ["FORMAT_VERSION", "META_KEY", "SIDE_DIR", "SideStore", "TableMeta"]

FORMAT_VERSION = 1
META_KEY = b"lance_spiral"
SIDE_DIR = "_lance_spiral"


@dataclass
class TableMeta:
    """What a reader needs to interpret a compressed table (stored as JSON in the schema).

    Attributes:
        format_version: Layout version; readers refuse newer ones.
        mode: ``"compressed"`` (codes only) or ``"alongside"`` (float column kept too).
        metric: ``ip``, ``cosine`` or ``l2``.
        dim: Vector width (``None`` until the first rows arrive).
        codec_spec: The target codec spec (e.g. ``"sq:bits=8"``).
        codec_file: Side file of the fitted codec now in use (``None`` before the first rows).
        provisional: Whether the codes use the small-table codec (not yet the target one).
        fit_rows: Row count at which the target codec is fitted and every row re-encoded.
        vector_column: Name of the vector in user data (and of the float column in alongside mode).
        id_column: Name of the id column.
        id_type: ``"string"`` or ``"int64"`` once known.
        aux_file: Side file with the binary-code centre and IVF centroids (compressed mode).
        nlist: Number of IVF partitions (0: no IVF, full scan of the binary codes).
        payload: Names of the payload columns, in order.
    """

    format_version: int = FORMAT_VERSION
    mode: str = "compressed"
    metric: str = "cosine"
    dim: int | None = None
    codec_spec: str = "sq:bits=8"
    codec_file: str | None = None
    provisional: bool = True
    fit_rows: int = 1000
    vector_column: str = "vector"
    id_column: str = "id"
    id_type: str | None = None
    aux_file: str | None = None
    nlist: int = 0
    payload: list[str] = field(default_factory=list)

    @property
    def codes_column(self) -> str:
        """Column holding the codec's codes (extension-typed)."""
        return f"{self.vector_column}_codes"

    @property
    def bits_column(self) -> str:
        """Column holding the 1-bit candidate codes (compressed mode)."""
        return f"{self.vector_column}_bits"

    @property
    def partition_column(self) -> str:
        """Column holding each row's IVF partition (compressed mode)."""
        return f"{self.vector_column}_partition"

    def internal_columns(self) -> list[str]:
        """Columns written by the library (never user payload)."""
        cols = [self.codes_column]
        if self.mode == "compressed":
            cols += [self.bits_column, self.partition_column]
        else:
            cols.append(self.vector_column)
        return cols

    def to_json(self) -> bytes:
        """Serialise to compact UTF-8 JSON."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_schema(cls, schema: pa.Schema, uri: str) -> TableMeta:
        """Read the record from a Lance schema.

        Raises:
            NotFoundError: The dataset is not a lance-spiral table.
            FormatVersionError: Written by a newer layout version.
            CorruptDataError: The record is unreadable.
        """
        raw = (schema.metadata or {}).get(META_KEY)
        if raw is None:
            raise NotFoundError(f"{uri} is a Lance dataset but not a lance-spiral table")
        try:
            obj = json.loads(raw.decode("utf-8"))
            version = obj.get("format_version")
        except (ValueError, AttributeError, UnicodeDecodeError) as exc:
            raise CorruptDataError(f"table metadata of {uri} is corrupt: {exc}") from exc
        if not isinstance(version, int) or version < 1:
            raise CorruptDataError(f"table metadata of {uri} has a bad format_version {version!r}")
        if version > FORMAT_VERSION:
            raise FormatVersionError(
                f"table {uri} has format version {version}; this build reads versions"
                f" 1..{FORMAT_VERSION} (upgrade lance-spiral)"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in obj.items() if k in names})
        except TypeError as exc:
            raise CorruptDataError(f"table metadata of {uri} is corrupt: {exc}") from exc


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
