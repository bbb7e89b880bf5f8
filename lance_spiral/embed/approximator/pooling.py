"""Folded attention pooling in numba: per-entry feature/logit tables -> pooled vectors.

The exported student is ``rho(pool(ids))`` where everything per token was folded into two
tables; this kernel does the gather + masked softmax + weighted sum without building the padded
``[batch, tokens, hidden]`` tensor the ONNX graph materialises. The feature table may be stored
as int8 with one scale per row and one per column (:func:`quantize_table`): the kernel folds the
row's scale into the token's attention weight and applies the column scales once per pooled
vector, so int8 costs no more arithmetic than float32 and reads a quarter of the bytes.

The optional second, context-conditioned pass lives in
:mod:`lance_spiral.embed.approximator.context`.
"""

from __future__ import annotations

import numba
import numpy as np

from lance_spiral.errors import InvalidInputError

__all__ = ["LN_EPS", "pool_folded", "pool_tokens", "quantize_table"]

LN_EPS = 1e-5  # torch.nn.LayerNorm's default


@numba.njit(cache=True, nogil=True, parallel=True)
def pool_tokens(
    flat: np.ndarray,
    offsets: np.ndarray,
    feats: np.ndarray,
    row_scales: np.ndarray,
    col_scales: np.ndarray,
    token_logits: np.ndarray,
    out: np.ndarray,
) -> None:
    """Masked multi-head softmax pooling; ``token_logits`` [total, heads] per token position.

    Token-major: each token's row is read once, contiguously, into a per-text accumulator
    (vectorised; 7x the head-major loop it replaced on the default model).
    """
    n = offsets.shape[0] - 1
    heads = token_logits.shape[1]
    width = feats.shape[1]
    dh = width // heads
    for b in numba.prange(n):
        start, stop = offsets[b], offsets[b + 1]
        if stop == start:
            continue
        m = np.full(heads, -np.inf, dtype=np.float32)
        for t in range(start, stop):
            for h in range(heads):
                if token_logits[t, h] > m[h]:
                    m[h] = token_logits[t, h]
        acc = np.zeros(width, dtype=np.float32)
        total = np.zeros(heads, dtype=np.float32)
        ws = np.empty(heads, dtype=np.float32)
        for t in range(start, stop):
            e = flat[t]
            for h in range(heads):
                w = np.float32(np.exp(token_logits[t, h] - m[h]))
                total[h] += w
                ws[h] = w * row_scales[e]
            for h in range(heads):
                wh = ws[h]
                o = h * dh
                for j in range(dh):
                    acc[o + j] += wh * np.float32(feats[e, o + j])
        for h in range(heads):
            inv = np.float32(1.0) / total[h]
            o = h * dh
            for j in range(dh):
                out[b, o + j] = acc[o + j] * inv * col_scales[o + j]


def quantize_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 quantisation of a feature table with one scale per column and one per row.

    Folded features have a few large channels (a row's largest value is ~15x its RMS); dividing
    every column by its largest magnitude first spreads each row over the int8 range, so the
    relative error per row drops from ~3% to ~0.5% on a real model.

    Args:
        table: float [rows, width].

    Returns:
        ``(q int8 [rows, width], row_scales float32 [rows], col_scales float32 [width])`` with
        ``table[i, j] ~= q[i, j] * row_scales[i] * col_scales[j]``; the error is at most half a
        step (``row_scales[i] * col_scales[j] / 2``) per element. All-zero rows get scale 0.

    Raises:
        InvalidInputError: If the table is not 2-D or not finite.
    """
    t = np.asarray(table, dtype=np.float32)
    if t.ndim != 2:
        raise InvalidInputError("table must be 2-D")
    if not np.isfinite(t).all():
        raise InvalidInputError("table holds NaN or inf")
    if t.size == 0:
        return (
            np.zeros(t.shape, np.int8),
            np.zeros(t.shape[0], np.float32),
            np.ones(t.shape[1], np.float32),
        )
    cols = np.abs(t).max(axis=0)
    cols = np.where(cols > 0, cols, 1.0).astype(np.float32)
    scaled = t / cols
    rows = (np.abs(scaled).max(axis=1) / 127.0).astype(np.float32)
    safe = np.where(rows > 0, rows, 1.0)
    q = np.clip(np.rint(scaled / safe[:, None]), -127, 127).astype(np.int8)
    return q, rows, cols


def pool_folded(
    flat: np.ndarray,
    offsets: np.ndarray,
    feats: np.ndarray,
    logits: np.ndarray,
    scales: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Attention-pool token sets with folded tables.

    Args:
        flat: int64 [total] entry ids of all texts, concatenated (no padding ids).
        offsets: int64 [n + 1] row starts in ``flat``.
        feats: float32 [entries, hidden] folded token features, or int8 with ``scales``.
        logits: float32 [entries, heads] folded attention logits.
        scales: ``(row_scales float32 [entries], col_scales float32 [hidden])``: the features
            are ``feats[i, j] * row_scales[i] * col_scales[j]``. Required for int8 ``feats``
            (:func:`quantize_table`); None means ones (callers that pool float tables often
            pass ones made once, which saves two allocations per call).

    Returns:
        float32 [n, hidden] pooled vectors (zeros for an empty text).

    Raises:
        InvalidInputError: On inconsistent shapes, int8 features without ``scales``, or ids out
            of range.
    """
    if feats.ndim != 2 or logits.ndim != 2 or feats.shape[0] != logits.shape[0]:
        raise InvalidInputError("feats and logits must be 2-D with the same number of rows")
    if logits.shape[1] < 1 or feats.shape[1] % logits.shape[1]:
        raise InvalidInputError("feature width must be divisible by the number of heads")
    if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[-1] != flat.shape[0]:
        raise InvalidInputError("offsets must be 1-D and end at len(flat)")
    if flat.size and (flat.min() < 0 or flat.max() >= feats.shape[0]):
        raise InvalidInputError("entry ids out of range")
    if feats.dtype == np.int8 and scales is None:
        raise InvalidInputError("int8 features need one scale per row and one per column")
    if scales is None:
        row_scales = np.ones(feats.shape[0], dtype=np.float32)
        col_scales = np.ones(feats.shape[1], dtype=np.float32)
    else:
        if (
            len(scales) != 2
            or scales[0].shape != (feats.shape[0],)
            or scales[1].shape != (feats.shape[1],)
        ):
            raise InvalidInputError("scales need one scale per row and one per column")
        row_scales = np.ascontiguousarray(scales[0], dtype=np.float32)
        col_scales = np.ascontiguousarray(scales[1], dtype=np.float32)
    table = feats if feats.dtype == np.int8 else feats.astype(np.float32, copy=False)
    table = np.ascontiguousarray(table)
    flat = np.ascontiguousarray(flat, dtype=np.int64)
    token_logits = np.ascontiguousarray(logits, dtype=np.float32)[flat]
    out = np.zeros((offsets.shape[0] - 1, feats.shape[1]), dtype=np.float32)
    pool_tokens(
        flat,
        np.ascontiguousarray(offsets, dtype=np.int64),
        table,
        row_scales,
        col_scales,
        token_logits,
        out,
    )
    return out
