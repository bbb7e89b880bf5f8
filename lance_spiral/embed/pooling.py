"""Folded attention pooling in numba: per-entry feature/logit tables -> pooled vectors.

The exported student is ``rho(pool(ids))`` where everything per token was folded into two
tables; this kernel does the gather + masked softmax + weighted sum without building the padded
``[batch, tokens, hidden]`` tensor the ONNX graph materialises.
"""

from __future__ import annotations

import numba
import numpy as np

from lance_spiral.errors import InvalidInputError

__all__ = ["pool_folded"]


@numba.njit(cache=True, nogil=True, parallel=True)
def _pool(
    flat: np.ndarray, offsets: np.ndarray, feats: np.ndarray, logits: np.ndarray, out: np.ndarray
) -> None:
    n = offsets.shape[0] - 1
    heads = logits.shape[1]
    dh = feats.shape[1] // heads
    for b in numba.prange(n):
        start, stop = offsets[b], offsets[b + 1]
        for h in range(heads):
            m = -np.inf
            for t in range(start, stop):
                v = logits[flat[t], h]
                if v > m:
                    m = v
            total = 0.0
            for t in range(start, stop):
                e = flat[t]
                w = np.exp(logits[e, h] - m)
                total += w
                for j in range(h * dh, (h + 1) * dh):
                    out[b, j] += w * feats[e, j]
            if total > 0:
                inv = 1.0 / total
                for j in range(h * dh, (h + 1) * dh):
                    out[b, j] *= inv


def pool_folded(
    flat: np.ndarray, offsets: np.ndarray, feats: np.ndarray, logits: np.ndarray
) -> np.ndarray:
    """Attention-pool token sets with folded tables.

    Args:
        flat: int64 [total] entry ids of all texts, concatenated (no padding ids).
        offsets: int64 [n + 1] row starts in ``flat``.
        feats: float32 [entries, hidden] folded token features.
        logits: float32 [entries, heads] folded attention logits.

    Returns:
        float32 [n, hidden] pooled vectors (zeros for an empty text).

    Raises:
        InvalidInputError: On inconsistent shapes or ids out of range.
    """
    if feats.ndim != 2 or logits.ndim != 2 or feats.shape[0] != logits.shape[0]:
        raise InvalidInputError("feats and logits must be 2-D with the same number of rows")
    if logits.shape[1] < 1 or feats.shape[1] % logits.shape[1]:
        raise InvalidInputError("feature width must be divisible by the number of heads")
    if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[-1] != flat.shape[0]:
        raise InvalidInputError("offsets must be 1-D and end at len(flat)")
    if flat.size and (flat.min() < 0 or flat.max() >= feats.shape[0]):
        raise InvalidInputError("entry ids out of range")
    out = np.zeros((offsets.shape[0] - 1, feats.shape[1]), dtype=np.float32)
    _pool(
        np.ascontiguousarray(flat, dtype=np.int64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        np.ascontiguousarray(feats, dtype=np.float32),
        np.ascontiguousarray(logits, dtype=np.float32),
        out,
    )
    return out
