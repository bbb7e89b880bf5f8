"""Uniform scalar quantisation ("sq"): 8, 6, 4 or 2 bits per dimension, per-dimension ranges.

Each dimension ``j`` gets a range ``[lo_j, hi_j]`` learned by :meth:`ScalarQuantizer.fit` and
``2**bits`` evenly spaced levels ``lo_j + step_j * c`` (``step_j = (hi_j - lo_j) / (2**bits - 1)``).
Values are rounded to the nearest level (clipped to the range) and bit-packed:
``code_bytes = ceil(dim * bits / 8)``, nothing else per vector.

Range rule (``ranges=``):

* ``"mse"`` (default): per dimension, the symmetric quantile clip level (from min/max down to the
  5 % / 95 % quantiles) that minimises the reconstruction MSE on the training sample. Clipping a
  few outliers buys a finer step for everyone else; at 8 bits this picks (nearly) min/max, at 4
  and 2 bits it clips.
* ``"minmax"``: the training minimum and maximum.

Measured on WordNet (117,659 x 384, recall@10 on codes): SQ4 0.908 with ``minmax`` (faiss SQ4:
0.909) and 0.927 with ``mse``; SQ8 0.992 either way. A random orthogonal rotation before
quantising gave +0.0003 (SQ4) and a Lloyd-style least-squares refinement of the ranges changed
recall by less than its noise (+-0.003), so neither is offered.

Error bound: for a value inside its dimension's range, ``|x - x_hat| <= step / 2``; a value
outside it is first clipped to the range.

Scoring never decodes: for ``ip``/``cosine`` it is ``q.lo + sum_j (q * step)_j c_j`` and for
``l2`` it is ``-sum_j ((q - lo)_j - step_j c_j)^2``, both computed from the packed bytes by numba
kernels (:mod:`lance_spiral.kernels.scalar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import check_int
from lance_spiral.codecs.base import Codec
from lance_spiral.codecs.registry import register_codec
from lance_spiral.errors import CorruptDataError, InvalidParameterError
from lance_spiral.kernels.bitpack import packed_bytes
from lance_spiral.kernels.scalar import (
    padded_dim,
    sq_decode,
    sq_encode,
    sq_score_ip,
    sq_score_l2,
)

__all__ = ["SQPrepared", "ScalarQuantizer"]

_BITS = (8, 6, 4, 2)
_RANGE_RULES = ("mse", "minmax")
# Tail mass clipped on each side, tried per dimension by the "mse" rule.
_CLIP_QUANTILES = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2)
_MAX_RANGE_SAMPLE = 32768


@dataclass
class SQPrepared:
    """Per-query state for :meth:`ScalarQuantizer.score`.

    Attributes:
        w: ``[nq, padded]`` query times step (ip/cosine) or query minus ``lo`` (l2).
        base: ``[nq]`` the query dotted with ``lo`` (ip/cosine; zeros for l2).
        metric: The codec metric the state was built for.
    """

    w: npt.NDArray[np.float32]
    base: npt.NDArray[np.float32]
    metric: str


@register_codec
class ScalarQuantizer(Codec):
    """Per-dimension uniform scalar quantiser with bit-packed codes.

    Args:
        bits: Bits per dimension: 8, 6, 4 or 2.
        metric: ``"ip"``, ``"cosine"`` or ``"l2"``.
        ranges: Range rule, ``"mse"`` (default) or ``"minmax"`` (see the module docstring).

    Raises:
        InvalidParameterError: Unsupported ``bits`` or ``ranges``.
    """

    name = "sq"

    def __init__(self, bits: int = 8, *, metric: str = "ip", ranges: str = "mse") -> None:
        super().__init__(metric=metric)
        bits = check_int(bits, "bits")
        if bits not in _BITS:
            raise InvalidParameterError(f"sq bits must be one of {_BITS}, got {bits}")
        if ranges not in _RANGE_RULES:
            raise InvalidParameterError(
                f"sq ranges must be one of {_RANGE_RULES}, got {ranges!r}"
            )
        self.bits = bits
        self.ranges = ranges
        self.lo = np.zeros(0, dtype=np.float32)
        self.step = np.zeros(0, dtype=np.float32)
        self._inv_step = np.zeros(0, dtype=np.float32)

    # ------------------------------------------------------------------ protocol
    @property
    def code_bytes(self) -> int:
        """Bytes per code: ``ceil(dim * bits / 8)``."""
        return packed_bytes(self._d, self.bits)

    @property
    def _d(self) -> int:
        self._require_fitted()
        return int(self.dim or 0)

    def params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"bits": self.bits, "metric": self.metric, "ranges": self.ranges}

    def _fit(self, x: npt.NDArray[np.float32], seed: int) -> None:
        rng = np.random.default_rng(seed)
        if x.shape[0] > _MAX_RANGE_SAMPLE:
            x = x[np.sort(rng.choice(x.shape[0], _MAX_RANGE_SAMPLE, replace=False))]
        levels = (1 << self.bits) - 1
        if self.ranges == "minmax":
            lo, hi = x.min(axis=0), x.max(axis=0)
        else:
            lo, hi = _mse_ranges(x, levels)
        step = ((hi - lo) / np.float32(levels)).astype(np.float32)
        self._set_ranges(lo.astype(np.float32), step)

    @classmethod
    def from_ranges(cls, lo: Any, hi: Any, *, bits: int = 8, metric: str = "ip"
                    ) -> ScalarQuantizer:
        """A fitted quantiser over known per-dimension ranges ``[lo_j, hi_j]`` (no sample).

        For ``metric="cosine"`` the ranges are those of the L2-normalised vectors.

        Raises:
            InvalidParameterError: Ranges not 1-D, of different lengths, not finite, or with
                ``hi < lo``.
        """
        lo_a = np.asarray(lo, dtype=np.float32)
        hi_a = np.asarray(hi, dtype=np.float32)
        if lo_a.ndim != 1 or lo_a.shape != hi_a.shape or lo_a.size == 0:
            raise InvalidParameterError("lo and hi must be 1-D arrays of one non-zero length")
        if not (np.isfinite(lo_a).all() and np.isfinite(hi_a).all()) or (hi_a < lo_a).any():
            raise InvalidParameterError("ranges must be finite with hi >= lo")
        codec = cls(bits, metric=metric, ranges="minmax")
        codec._set_ranges(lo_a, ((hi_a - lo_a) / np.float32((1 << codec.bits) - 1)
                                 ).astype(np.float32))
        codec.dim = int(lo_a.shape[0])
        return codec

    def _set_ranges(self, lo: npt.NDArray[np.float32], step: npt.NDArray[np.float32]) -> None:
        self.lo = np.ascontiguousarray(lo, dtype=np.float32)
        self.step = np.ascontiguousarray(step, dtype=np.float32)
        with np.errstate(divide="ignore"):
            inv = np.where(step > 0, np.float32(1.0) / np.where(step > 0, step, 1), 0)
        self._inv_step = np.ascontiguousarray(inv, dtype=np.float32)

    def _encode(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        out = np.zeros((x.shape[0], self.code_bytes), dtype=np.uint8)
        sq_encode(x, self.lo, self._inv_step, self.bits, out)
        return out

    def _decode(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        out = np.empty((codes.shape[0], self._d), dtype=np.float32)
        sq_decode(codes, self.lo, self.step, self.bits, out)
        return out

    def _prepare(self, q: npt.NDArray[np.float32]) -> SQPrepared:
        pd = padded_dim(self._d, self.bits)
        w = np.zeros((q.shape[0], pd), dtype=np.float32)
        if self.metric == "l2":
            w[:, : self._d] = q - self.lo
            base = np.zeros(q.shape[0], dtype=np.float32)
        else:
            w[:, : self._d] = q * self.step
            base = (q.astype(np.float64) @ self.lo.astype(np.float64)).astype(np.float32)
        return SQPrepared(w=w, base=base, metric=self.metric)

    def _score(self, prepared: Any, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        p = self._check_prepared(prepared)
        out = np.empty((p.w.shape[0], codes.shape[0]), dtype=np.float32)
        if self.metric == "l2":
            s = np.zeros(p.w.shape[1], dtype=np.float32)
            s[: self._d] = self.step
            sq_score_l2(codes, p.w, s, self.bits, self._d, out)
        else:
            sq_score_ip(codes, p.w, p.base, self.bits, self._d, out)
        return out

    @classmethod
    def _from_parts(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> ScalarQuantizer:
        codec = super()._from_parts(header, arrays)
        if codec.lo.shape[0] != codec.dim:
            raise CorruptDataError(
                f"sq codec header says dim={codec.dim} but its ranges have {codec.lo.shape[0]}"
            )
        return codec

    def _check_prepared(self, prepared: Any) -> SQPrepared:
        if not isinstance(prepared, SQPrepared):
            raise InvalidParameterError(
                f"prepared must come from this codec's prepare(), got {type(prepared).__name__}"
            )
        if prepared.metric != self.metric or prepared.w.shape[1] != padded_dim(self._d, self.bits):
            raise InvalidParameterError("prepared query state belongs to a different codec")
        return prepared

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"lo": self.lo, "step": self.step}

    def _set_state(
        self, state: dict[str, Any], arrays: dict[str, np.ndarray], version: int
    ) -> None:
        try:
            lo, step = arrays["lo"], arrays["step"]
        except KeyError as exc:
            raise CorruptDataError(f"sq codec data lacks array {exc}") from None
        if lo.ndim != 1 or lo.shape != step.shape or lo.dtype != np.float32:
            raise CorruptDataError("sq codec arrays lo/step are inconsistent")
        if not (np.isfinite(lo).all() and np.isfinite(step).all()) or (step < 0).any():
            raise CorruptDataError("sq codec ranges are not finite / non-negative")
        self._set_ranges(lo, step)


def _mse_ranges(
    x: npt.NDArray[np.float32], levels: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per dimension, the quantile clip range with the least quantisation MSE on ``x``."""
    qs = np.array(_CLIP_QUANTILES)
    lo_c = np.quantile(x, qs, axis=0).astype(np.float32)  # [c, d]
    hi_c = np.quantile(x, 1.0 - qs, axis=0).astype(np.float32)
    best = np.full(x.shape[1], np.inf)
    lo = lo_c[0].copy()
    hi = hi_c[0].copy()
    for c in range(len(qs)):
        step = (hi_c[c] - lo_c[c]) / np.float32(levels)
        safe = np.where(step > 0, step, 1).astype(np.float32)
        codes = np.clip(np.rint((x - lo_c[c]) / safe), 0, levels)
        err = ((lo_c[c] + codes * step - x) ** 2).mean(axis=0)
        better = err < best
        best = np.where(better, err, best)
        lo = np.where(better, lo_c[c], lo)
        hi = np.where(better, hi_c[c], hi)
    return lo, hi
