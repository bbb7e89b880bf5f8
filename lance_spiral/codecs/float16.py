"""Half-precision codes ("float16"): each dimension stored as an IEEE float16, 2 bytes.

``code_bytes = 2 * dim``; there are no fitted parameters (``fit`` only records the dimension).
Error bound: relative rounding error ``2**-11`` per coordinate for ``|x| >= 2**-14`` (an
absolute ``2**-25`` below that). Values beyond the float16 range (``|x| > 65504``) are refused
with :class:`~lance_spiral.errors.NonFiniteError` rather than silently turned into infinities.

Scoring converts blocks of codes to float32 and multiplies with BLAS: for float16 that *is* the
fastest way to score, and the result equals decode-then-dot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral.codecs.base import Codec
from lance_spiral.codecs.registry import register_codec
from lance_spiral.errors import CorruptDataError, InvalidParameterError, NonFiniteError

__all__ = ["Float16Codec", "FloatPrepared", "blas_score"]

F16_MAX = float(np.finfo(np.float16).max)
_BLOCK = 16384


@dataclass
class FloatPrepared:
    """Per-query state for float codecs: the queries and their squared norms.

    Attributes:
        q: ``[nq, dim]`` float32 queries (normalised for cosine).
        qnorm2: ``[nq]`` squared norms (used by ``l2``).
        metric: The codec metric.
    """

    q: npt.NDArray[np.float32]
    qnorm2: npt.NDArray[np.float32]
    metric: str


def blas_score(
    prepared: FloatPrepared, codes: npt.NDArray[np.uint8], dtype: type[np.floating[Any]]
) -> npt.NDArray[np.float32]:
    """Score raw little-endian float codes (``dtype`` per dimension) block by block with BLAS."""
    n = codes.shape[0]
    out = np.empty((prepared.q.shape[0], n), dtype=np.float32)
    le = np.dtype(dtype).newbyteorder("<")
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        x = codes[start:stop].view(le).astype(np.float32)
        block = prepared.q @ x.T
        if prepared.metric == "l2":
            xn = np.einsum("ij,ij->i", x, x)
            block = 2.0 * block - prepared.qnorm2[:, None] - xn[None, :]
        out[:, start:stop] = block
    return out


def prepare_float(q: npt.NDArray[np.float32], metric: str) -> FloatPrepared:
    """Build :class:`FloatPrepared` for already-validated queries."""
    qn = np.einsum("ij,ij->i", q, q).astype(np.float32)
    return FloatPrepared(q=np.ascontiguousarray(q, dtype=np.float32), qnorm2=qn, metric=metric)


def check_float_prepared(prepared: Any, dim: int, metric: str) -> FloatPrepared:
    """Check that ``prepared`` came from a float codec of this ``dim`` and ``metric``."""
    if not isinstance(prepared, FloatPrepared):
        raise InvalidParameterError(
            f"prepared must come from this codec's prepare(), got {type(prepared).__name__}"
        )
    if prepared.q.shape[1] != dim or prepared.metric != metric:
        raise InvalidParameterError("prepared query state belongs to a different codec")
    return prepared


@register_codec
class Float16Codec(Codec):
    """IEEE half-precision storage of every dimension (2 bytes per dimension).

    Args:
        metric: ``"ip"``, ``"cosine"`` or ``"l2"``.
    """

    name = "float16"

    def __init__(self, *, metric: str = "ip") -> None:
        super().__init__(metric=metric)

    @property
    def code_bytes(self) -> int:
        """Bytes per code: ``2 * dim``."""
        self._require_fitted()
        return 2 * int(self.dim or 0)

    def params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"metric": self.metric}

    def _fit(self, x: npt.NDArray[np.float32], seed: int) -> None:
        return None

    def _encode(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        big = np.abs(x) > F16_MAX
        if big.any():
            rows = int(big.any(axis=1).sum())
            raise NonFiniteError(
                f"{rows} vector(s) hold values beyond the float16 range (|x| > {F16_MAX:g})"
            )
        h = x.astype(np.dtype("<f2"))
        return np.ascontiguousarray(h).view(np.uint8).reshape(x.shape[0], -1)

    def _decode(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(codes.view(np.dtype("<f2")).astype(np.float32))

    def _prepare(self, q: npt.NDArray[np.float32]) -> FloatPrepared:
        return prepare_float(q, self.metric)

    def _score(self, prepared: Any, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        p = check_float_prepared(prepared, int(self.dim or 0), self.metric)
        return blas_score(p, codes, np.float16)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(
        self, state: dict[str, Any], arrays: dict[str, np.ndarray], version: int
    ) -> None:
        return None

    @classmethod
    def _from_parts(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Float16Codec:
        codec = super()._from_parts(header, arrays)
        if not isinstance(codec.dim, int) or codec.dim < 1:
            raise CorruptDataError(f"float16 codec data has a bad dim {codec.dim!r}")
        return codec
