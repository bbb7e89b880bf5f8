"""Table metadata: a small JSON record in the Lance schema, referencing the side files.

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
import json
from dataclasses import dataclass, field

import pyarrow as pa

from lance_spiral.arrow.sidefiles import SIDE_DIR, side_file_name
from lance_spiral.errors import CorruptDataError, FormatVersionError, NotFoundError

__all__ = ["FORMAT_VERSION", "META_KEY", "TableMeta"]

FORMAT_VERSION = 1
META_KEY = b"lance_spiral"


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
        stored_codec: Spec of the codec the codes are stored with now (the target's once
            fitted, the provisional one before); ``None`` in tables written before it existed.
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
    stored_codec: str | None = None
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
            meta = cls(**{k: v for k, v in obj.items() if k in names})
        except TypeError as exc:
            raise CorruptDataError(f"table metadata of {uri} is corrupt: {exc}") from exc
        meta.check(schema, uri)
        return meta

    def check(self, schema: pa.Schema, uri: str) -> None:
        """Check the record against the dataset's schema and the side-file naming rules.

        Raises:
            CorruptDataError: Wrong field types, a column the record names but the table lacks,
                or a side-file name that is not a lance-spiral one.
        """
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for name, want in (("mode", str), ("metric", str), ("codec_spec", str),
                           ("vector_column", str), ("id_column", str), ("fit_rows", int),
                           ("nlist", int), ("provisional", bool)):
            if not isinstance(getattr(self, name), want):
                raise CorruptDataError(f"table metadata of {uri}: {name} is not a"
                                       f" {types[name]} ({getattr(self, name)!r})")
        if self.dim is not None and (not isinstance(self.dim, int) or self.dim < 1):
            raise CorruptDataError(f"table metadata of {uri}: dim is {self.dim!r}")
        if not isinstance(self.payload, list) or not all(
                isinstance(c, str) for c in self.payload):
            raise CorruptDataError(f"table metadata of {uri}: payload is not a list of names")
        for name in ("codec_file", "aux_file"):
            value = getattr(self, name)
            if value is not None and not side_file_name(value):
                raise CorruptDataError(
                    f"table metadata of {uri} names the side file {value!r}: not a lance-spiral"
                    f" side file inside {uri}/{SIDE_DIR} (corrupt or edited metadata)")
        need = [self.id_column, *self.payload]
        if self.codec_file is not None:
            need += self.internal_columns()
        missing = [c for c in need if schema.get_field_index(c) < 0]
        if missing:
            raise CorruptDataError(
                f"table metadata of {uri} names columns the dataset does not have: {missing}"
                f" (dataset columns: {schema.names}); the metadata or the schema was edited")
