"""Bit-exact storage ("lossless"): raw float32 codes per row, byte-shuffle + zstd per batch.

How a variable-length compressor fits the fixed-width codec protocol:

* Per row, the code is the vector's raw little-endian float32 bytes: ``code_bytes = 4 * dim``.
  ``encode``/``decode``/``score`` therefore work like every other codec (fixed-width rows that
  can live in a Lance ``fixed_size_binary`` column) and ``decode(encode(x))`` is bit-exact.
* Compression happens on whole batches: :meth:`LosslessCodec.compress` turns ``codes[n, 4*dim]``
  into one self-describing blob (byte-shuffle -- all first bytes of every float, then all second
  bytes, ... -- then a zstd frame with its content checksum); :meth:`LosslessCodec.decompress`
  gives the codes back bit for bit. :meth:`pack` / :meth:`unpack` do encode+compress in one call.

Be realistic about the gain: the low mantissa bytes of real float32 embeddings are noise, so
measured ratios are ~1.17-1.19x (1.18x on the SciFact embeddings at zstd level 1); nothing
lossless gets past ~1.21x on such data. This codec is for exact archives, not for saving space.
Input is stored as float32: float16 input round-trips exactly, float64 input is rounded to float32
first. With ``metric="cosine"`` rows are normalised before encoding (as for every codec), so the
round trip is exact for the normalised vectors.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_codes, check_int
from lance_spiral.codecs.base import Codec
from lance_spiral.codecs.float16 import (
    FloatPrepared,
    blas_score,
    check_float_prepared,
    prepare_float,
)
from lance_spiral.codecs.registry import register_codec
from lance_spiral.errors import CorruptDataError, FormatVersionError

__all__ = ["BLOB_MAGIC", "LosslessCodec"]

BLOB_MAGIC = b"LSZSTD01"
_BLOB_VERSION = 1
_BLOB_HEADER = struct.Struct("<IQI")  # blob format version, rows, dim


@register_codec
class LosslessCodec(Codec):
    """Bit-exact float32 codes, with byte-shuffle + zstd compression of whole batches.

    Args:
        metric: ``"ip"``, ``"cosine"`` or ``"l2"``.
        level: zstd compression level (1..22) used by :meth:`compress`.

    Raises:
        InvalidParameterError: ``level`` out of range.
    """

    name = "lossless"

    def __init__(self, *, metric: str = "ip", level: int = 1) -> None:
        super().__init__(metric=metric)
        self.level = check_int(level, "level", lo=1, hi=22)

    @property
    def code_bytes(self) -> int:
        """Bytes per (uncompressed) code: ``4 * dim``."""
        self._require_fitted()
        return 4 * int(self.dim or 0)

    def params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"metric": self.metric, "level": self.level}

    def _fit(self, x: npt.NDArray[np.float32], seed: int) -> None:
        return None

    def _encode(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        le = np.ascontiguousarray(x, dtype=np.dtype("<f4"))
        return le.view(np.uint8).reshape(x.shape[0], -1).copy()

    def _decode(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(codes.view(np.dtype("<f4")).astype(np.float32))

    def _prepare(self, q: npt.NDArray[np.float32]) -> FloatPrepared:
        return prepare_float(q, self.metric)

    def _score(self, prepared: Any, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        p = check_float_prepared(prepared, int(self.dim or 0), self.metric)
        return blas_score(p, codes, np.float32)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(
        self, state: dict[str, Any], arrays: dict[str, np.ndarray], version: int
    ) -> None:
        return None

    # ------------------------------------------------------------ batch blobs
    def compress(self, codes: Any) -> bytes:
        """Compress a batch of codes ``uint8[n, 4*dim]`` into one blob (shuffle + zstd).

        Raises:
            NotFittedError: Before ``fit``.
            DTypeError: Codes are not uint8.
            CorruptDataError: Codes of the wrong width.
        """
        import zstandard

        self._require_fitted()
        c = as_codes(codes, code_bytes=self.code_bytes)
        n, d = c.shape[0], int(self.dim or 0)
        shuffled = np.ascontiguousarray(c.reshape(n * d, 4).T)
        cctx = zstandard.ZstdCompressor(level=self.level, write_checksum=True,
                                        write_content_size=True)
        frame = cctx.compress(shuffled.tobytes())
        return BLOB_MAGIC + _BLOB_HEADER.pack(_BLOB_VERSION, n, d) + frame

    def decompress(self, blob: bytes) -> npt.NDArray[np.uint8]:
        """Inverse of :meth:`compress`: the codes ``uint8[n, 4*dim]``, bit for bit.

        Raises:
            CorruptDataError: Not a blob of this codec, truncated, checksum mismatch, wrong dim.
            FormatVersionError: A blob written by a newer format version.
        """
        import zstandard

        self._require_fitted()
        if isinstance(blob, memoryview):
            blob = blob.tobytes()
        if not isinstance(blob, (bytes, bytearray)):
            raise CorruptDataError(f"blob must be bytes, got {type(blob).__name__}")
        head = len(BLOB_MAGIC) + _BLOB_HEADER.size
        if len(blob) < head or not bytes(blob[: len(BLOB_MAGIC)]) == BLOB_MAGIC:
            raise CorruptDataError("not a lance-spiral lossless blob (bad magic or truncated)")
        version, n, d = _BLOB_HEADER.unpack_from(blob, len(BLOB_MAGIC))
        if version > _BLOB_VERSION or version < 1:
            raise FormatVersionError(
                f"lossless blob has format version {version}; this build reads 1..{_BLOB_VERSION}"
            )
        if d != self.dim:
            raise CorruptDataError(f"lossless blob holds dim={d} vectors, codec dim={self.dim}")
        try:
            raw = zstandard.ZstdDecompressor().decompress(bytes(blob[head:]))
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"lossless blob failed to decompress: {exc}") from exc
        if len(raw) != n * d * 4:
            raise CorruptDataError(
                f"lossless blob holds {len(raw)} bytes, expected {n * d * 4} for {n} rows"
            )
        planes = np.frombuffer(raw, dtype=np.uint8).reshape(4, n * d)
        return np.ascontiguousarray(planes.T).reshape(n, 4 * d)

    def pack(self, x: Any) -> bytes:
        """Encode and compress vectors ``[n, dim]`` into one blob."""
        return self.compress(self.encode(x))

    def unpack(self, blob: bytes) -> npt.NDArray[np.float32]:
        """Decompress and decode a blob from :meth:`pack` into float32 ``[n, dim]``."""
        return self.decode(self.decompress(blob))

    @classmethod
    def _from_parts(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> LosslessCodec:
        codec = super()._from_parts(header, arrays)
        if not isinstance(codec.dim, int) or codec.dim < 1:
            raise CorruptDataError(f"lossless codec data has a bad dim {codec.dim!r}")
        return codec
