"""Input checks shared by every public entry point."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral.errors import (
    CorruptDataError,
    DimensionError,
    DTypeError,
    EmptyInputError,
    InvalidParameterError,
    NonFiniteError,
)

__all__ = ["METRICS", "as_codes", "as_query", "as_vectors", "check_int", "check_metric"]

METRICS = ("ip", "cosine", "l2")
_METRIC_ALIASES = {"dot": "ip", "inner_product": "ip", "cos": "cosine", "euclidean": "l2"}


def check_metric(metric: str) -> str:
    """Return the canonical metric name (``ip``, ``cosine`` or ``l2``).

    Raises:
        InvalidParameterError: For an unknown metric.
    """
    if not isinstance(metric, str):
        raise InvalidParameterError(f"metric must be a string, got {type(metric).__name__}")
    m = _METRIC_ALIASES.get(metric.lower(), metric.lower())
    if m not in METRICS:
        raise InvalidParameterError(f"unknown metric {metric!r}; expected one of {METRICS}")
    return m


def as_vectors(
    x: Any, *, dim: int | None = None, name: str = "x", allow_empty: bool = False
) -> npt.NDArray[np.float32]:
    """Validate a batch of vectors and return it as C-contiguous float32 ``[n, d]``.

    Accepts float16/32/64 arrays (and nested lists of floats). A 1-D input is *not* promoted:
    batches must be 2-D so that a single vector is never mistaken for ``d`` one-dimensional
    vectors.

    Raises:
        DTypeError: Non-floating input (ints, bools, strings, objects, complex).
        DimensionError: Not 2-D, or ``dim`` given and the width differs.
        EmptyInputError: No rows (unless ``allow_empty``) or zero width.
        NonFiniteError: NaN or infinity anywhere.
    """
    arr = x if isinstance(x, np.ndarray) else _from_sequence(x, name)
    if not np.issubdtype(arr.dtype, np.floating):
        raise DTypeError(f"{name} must hold floating-point values, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise DimensionError(f"{name} must be 2-D [n, dim], got shape {arr.shape}")
    if arr.shape[0] == 0 and not allow_empty:
        raise EmptyInputError(f"{name} is an empty batch (0 vectors)")
    if arr.shape[1] == 0:
        raise EmptyInputError(f"{name} has zero dimensions")
    if dim is not None and arr.shape[1] != dim:
        raise DimensionError(f"{name} has dimension {arr.shape[1]}, expected {dim}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype == np.float64 and not np.isfinite(out).all() and np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds values beyond float32 range")
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).any(axis=1).sum())
        raise NonFiniteError(f"{name} contains NaN or infinite values in {bad} row(s)")
    return out


def as_query(q: Any, *, dim: int | None = None, name: str = "query") -> npt.NDArray[np.float32]:
    """Validate queries: a single vector ``[d]`` or a batch ``[nq, d]``; returns 2-D float32."""
    arr = q if isinstance(q, np.ndarray) else _from_sequence(q, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    return as_vectors(arr, dim=dim, name=name)


def as_codes(codes: Any, *, code_bytes: int, name: str = "codes") -> npt.NDArray[np.uint8]:
    """Validate an encoded batch: uint8 ``[n, code_bytes]`` (a flat buffer is reshaped).

    Raises:
        DTypeError: Not uint8.
        CorruptDataError: Truncated (size not a multiple of ``code_bytes``) or wrong width.
    """
    if isinstance(codes, (bytes, bytearray, memoryview)):
        codes = np.frombuffer(codes, dtype=np.uint8)
    if not isinstance(codes, np.ndarray):
        raise DTypeError(f"{name} must be a numpy uint8 array, got {type(codes).__name__}")
    if codes.dtype != np.uint8:
        raise DTypeError(f"{name} must have dtype uint8, got {codes.dtype}")
    if codes.ndim == 1:
        if codes.size % code_bytes:
            raise CorruptDataError(
                f"{name} holds {codes.size} bytes, not a multiple of code_bytes={code_bytes}"
                " (truncated codes?)"
            )
        codes = codes.reshape(-1, code_bytes)
    if codes.ndim != 2 or codes.shape[1] != code_bytes:
        raise CorruptDataError(
            f"{name} has shape {codes.shape}, expected [n, {code_bytes}]"
            " (truncated or foreign codes?)"
        )
    return np.ascontiguousarray(codes)


def check_int(value: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """Check that ``value`` is an integer within ``[lo, hi]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InvalidParameterError(f"{name}={v} is out of range [{lo}, {hi}]")
    return v


def _from_sequence(x: Any, name: str) -> np.ndarray:
    if x is None:
        raise DTypeError(f"{name} is None")
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise DimensionError(f"{name} is ragged or not array-like: {exc}") from exc
