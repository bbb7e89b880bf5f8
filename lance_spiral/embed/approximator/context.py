"""The folded context pass of an approximator: a second, context-conditioned attention pooling.

:class:`ContextPass` takes the query from the first pass's pooled vector (LayerNorm + a linear
map), scores folded int8 keys against it and pools folded values (or the features themselves)
with those weights. The keys may be stored as their linear map of the features and derived at
load (:func:`derive_context_keys`, format 4), which saves a key row per vocabulary entry on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from lance_spiral.embed.approximator.pooling import LN_EPS, pool_tokens, quantize_table
from lance_spiral.errors import InvalidInputError

__all__ = ["KEY_WEIGHT", "ContextPass", "context_tables", "derive_context_keys"]


# fastmath lets LLVM reassociate the dot products' sums, i.e. vectorise them: 9x on 512-wide keys.
@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _context_logits(
    flat: np.ndarray,
    offsets: np.ndarray,
    keys: np.ndarray,
    key_rows: np.ndarray,
    queries: np.ndarray,
    bias: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[t, h] = key_rows[e] * keys[e, head h] . queries[b, h] + bias[e, h]``, e = flat[t]."""
    n = offsets.shape[0] - 1
    heads = queries.shape[1]
    dk = queries.shape[2]
    for b in numba.prange(n):
        for t in range(offsets[b], offsets[b + 1]):
            e = flat[t]
            for h in range(heads):
                o = h * dk
                dot = np.float32(0.0)
                for j in range(dk):
                    dot += np.float32(keys[e, o + j]) * queries[b, h, j]
                out[t, h] = dot * key_rows[e] + bias[e, h]



_CONTEXT_TABLES = (
    "context_keys",
    "context_key_row_scales",
    "context_key_col_scales",
    "context_bias",
    "context_ln_weight",
    "context_ln_bias",
    "context_query_weight",
    "context_query_bias",
    "context_mix_weight",
)
# Present when the values are a projection of the features; absent, the features are the values.
_KEY_TABLES = _CONTEXT_TABLES[:3]
# Stored instead of the key table and its row scales (the column scales may stay): the keys
# are ``features @ context_key_weight.T``.
KEY_WEIGHT = "context_key_weight"
_VALUE_TABLES = ("context_values", "context_value_row_scales", "context_value_col_scales")


@dataclass(frozen=True)
class ContextPass:
    """The folded context pass of a student (``StudentConfig.context_heads > 0``).

    Between the two pooling passes the query is ``LayerNorm(first) @ query_weight.T +
    query_bias`` (a [hidden] -> [k] matmul per text, in numpy); the second pass scores each token
    by its folded key against that query (plus a per-entry bias), pools the folded values with
    it, and ``first + pooled_values @ mix_weight.T`` goes on to the head.

    Attributes:
        keys: int8 [entries, k] folded keys; ``key_scales`` = (row, column) scales.
        values: int8 [entries, v] folded values (the first pass's feature table itself when the
            values are the features); ``value_scales`` = (row, column) scales.
        bias: float32 [entries, heads] per-entry logit bias.
        ln_weight: float32 [hidden] LayerNorm weight (``ln_bias`` its bias).
        query_weight: float32 [k, hidden]; ``query_bias`` float32 [k].
        mix_weight: float32 [hidden, v].
    """

    keys: np.ndarray
    key_scales: tuple[np.ndarray, np.ndarray]
    values: np.ndarray
    value_scales: tuple[np.ndarray, np.ndarray]
    bias: np.ndarray
    ln_weight: np.ndarray
    ln_bias: np.ndarray
    query_weight: np.ndarray
    query_bias: np.ndarray
    mix_weight: np.ndarray

    @property
    def heads(self) -> int:
        """Attention heads of the context pass."""
        return int(self.bias.shape[1])

    @classmethod
    def from_tables(
        cls, tables: dict[str, np.ndarray], entries: int, hidden: int
    ) -> ContextPass | None:
        """Read the ``context_*`` arrays of a tables file (None when it has none).

        Args:
            tables: Arrays by name (as :func:`context_tables` writes them, beside the int8
                ``features``, ``row_scales`` and ``col_scales`` of the first pass); the keys
                and their row scales may be replaced by ``context_key_weight``, the keys'
                linear map of the features (:func:`derive_context_keys` then makes them, with
                ``context_key_col_scales`` when stored).
            entries: Vocabulary size (rows of every per-entry table).
            hidden: Width of the first pass's pooled vector.

        Returns:
            The context pass, or None if no ``context_*`` array is present.

        Raises:
            InvalidInputError: If some are missing or their shapes, types or values do not fit.
        """
        if KEY_WEIGHT in tables and not any(name in tables for name in _KEY_TABLES[:2]):
            if any(name not in tables for name in ("features", "row_scales", "col_scales")):
                raise InvalidInputError("context keys derived from features need the feature table")
            weight = np.asarray(tables[KEY_WEIGHT])
            if weight.ndim != 2 or weight.shape[1] != hidden or not np.isfinite(weight).all():
                raise InvalidInputError(
                    f"{KEY_WEIGHT} has shape {weight.shape}, expected (k, {hidden}), finite"
                )
            derived = derive_context_keys(
                tables["features"],
                tables["row_scales"],
                tables["col_scales"],
                weight,
                key_col_scales=tables.get(_KEY_TABLES[2]),
            )
            tables = {**tables, **dict(zip(_KEY_TABLES, derived, strict=True))}
        present = [name for name in _CONTEXT_TABLES if name in tables]
        if not present:
            return None
        missing = sorted(set(_CONTEXT_TABLES) - set(present))
        values_present = [name for name in _VALUE_TABLES if name in tables]
        if values_present and len(values_present) < len(_VALUE_TABLES):
            missing += sorted(set(_VALUE_TABLES) - set(values_present))
        if missing:
            raise InvalidInputError(f"context tables incomplete: missing {missing}")
        names = _VALUE_TABLES if values_present else ("features", "row_scales", "col_scales")
        if any(name not in tables for name in names):
            raise InvalidInputError("context pass over the features needs the int8 feature table")
        t = {name: np.asarray(tables[name]) for name in _CONTEXT_TABLES}
        for mine, theirs in zip(_VALUE_TABLES, names, strict=True):
            t[mine] = np.asarray(tables[theirs])
        keys, values, bias = t["context_keys"], t["context_values"], t["context_bias"]
        if keys.dtype != np.int8 or values.dtype != np.int8:
            raise InvalidInputError("context keys and values must be int8")
        if keys.ndim != 2 or values.ndim != 2 or bias.ndim != 2:
            raise InvalidInputError("context keys, values and bias must be 2-D")
        k, v, heads = keys.shape[1], values.shape[1], bias.shape[1]
        expected = {
            "context_keys": (entries, k),
            "context_key_row_scales": (entries,),
            "context_key_col_scales": (k,),
            "context_values": (entries, v),
            "context_value_row_scales": (entries,),
            "context_value_col_scales": (v,),
            "context_bias": (entries, heads),
            "context_ln_weight": (hidden,),
            "context_ln_bias": (hidden,),
            "context_query_weight": (k, hidden),
            "context_query_bias": (k,),
            "context_mix_weight": (hidden, v),
        }
        for name, shape in expected.items():
            if t[name].shape != shape:
                raise InvalidInputError(f"{name} has shape {t[name].shape}, expected {shape}")
        if heads < 1 or k % heads or v % heads:
            raise InvalidInputError(f"context widths {k}, {v} not divisible by {heads} heads")
        f = {
            name: t[name].astype(np.float32, copy=False)
            for name in (*_CONTEXT_TABLES[1:], *_VALUE_TABLES[1:])
        }
        if not all(np.isfinite(x).all() for x in f.values()):
            raise InvalidInputError("context tables hold NaN or inf")
        return cls(
            keys=np.ascontiguousarray(keys),
            key_scales=(f["context_key_row_scales"], f["context_key_col_scales"]),
            values=np.ascontiguousarray(values),
            value_scales=(f["context_value_row_scales"], f["context_value_col_scales"]),
            bias=np.ascontiguousarray(f["context_bias"]),
            ln_weight=f["context_ln_weight"],
            ln_bias=f["context_ln_bias"],
            query_weight=np.ascontiguousarray(f["context_query_weight"]),
            query_bias=f["context_query_bias"],
            mix_weight=np.ascontiguousarray(f["context_mix_weight"]),
        )

    def apply(self, flat: np.ndarray, offsets: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Run the context pass on pooled first-pass vectors.

        Args:
            flat: int64 [total] entry ids (already checked by :func:`pool_folded`).
            offsets: int64 [n + 1] row starts in ``flat``.
            first: float32 [n, hidden] first-pass pooled vectors.

        Returns:
            float32 [n, hidden]: ``first`` plus the mixed context-pooled values.
        """
        heads = self.heads
        k = self.keys.shape[1]
        mu = first.mean(axis=1, keepdims=True)
        var = first.var(axis=1, keepdims=True)
        normed = (first - mu) / np.sqrt(var + LN_EPS) * self.ln_weight + self.ln_bias
        q = normed @ self.query_weight.T + self.query_bias
        # Fold the keys' column scales and the 1/sqrt(d) into the query once per text.
        q = (q * (self.key_scales[1] / np.sqrt(k // heads))).astype(np.float32)
        queries = np.ascontiguousarray(q.reshape(len(first), heads, k // heads))
        flat = np.ascontiguousarray(flat, dtype=np.int64)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        logits = np.empty((flat.shape[0], heads), dtype=np.float32)
        _context_logits(flat, offsets, self.keys, self.key_scales[0], queries, self.bias, logits)
        second = np.zeros((len(first), self.values.shape[1]), dtype=np.float32)
        pool_tokens(flat, offsets, self.values, *self.value_scales, logits, second)
        return (first + second @ self.mix_weight.T).astype(np.float32, copy=False)


def derive_context_keys(
    features: np.ndarray,
    row_scales: np.ndarray,
    col_scales: np.ndarray,
    weight: np.ndarray,
    *,
    key_col_scales: np.ndarray | None = None,
    chunk: int = 8192,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The context keys of a student whose keys are a linear map of its features, as int8.

    A model folder may store the key map (``context_key_weight`` [k, hidden], k x hidden floats)
    instead of the folded key table (k bytes per vocabulary entry): the keys are recomputed here
    from the int8 feature table, at load, and quantised like :func:`quantize_table`. With the
    keys' column scales given (stored beside the map: k floats) that is one chunked matrix
    product and nothing kept but the int8 result; without, a first product finds them.

    Args:
        features: int8 [entries, hidden] feature table.
        row_scales: float32 [entries] its row scales.
        col_scales: float32 [hidden] its column scales.
        weight: float [k, hidden] the key map.
        key_col_scales: float32 [k] the keys' column scales (None: computed).
        chunk: Rows per matrix product.

    Returns:
        ``(keys int8 [entries, k], row_scales float32 [entries], col_scales float32 [k])``.
    """
    n = features.shape[0]
    w = (np.asarray(weight, np.float32) * np.asarray(col_scales, np.float32)[None, :]).T
    rows_in = np.asarray(row_scales, np.float32)
    if key_col_scales is None:
        cols = np.zeros(w.shape[1], np.float32)
        for s in range(0, n, chunk):
            part = (features[s : s + chunk].astype(np.float32) @ w) * rows_in[s : s + chunk, None]
            np.maximum(cols, np.abs(part).max(axis=0), out=cols)
        cols = np.where(cols > 0, cols, 1.0).astype(np.float32)
    else:
        cols = np.asarray(key_col_scales, np.float32)
    # The features' row scale cancels in each key row's own scaling: quantise the product of
    # the int8 rows, then fold the feature row scale into the key row scale.
    w = np.ascontiguousarray(w / cols[None, :])
    q = np.empty((n, w.shape[1]), np.int8)
    rows = np.empty(n, np.float32)
    for s in range(0, n, chunk):
        part = features[s : s + chunk].astype(np.float32) @ w
        m = np.abs(part).max(axis=1)
        safe = np.where(m > 0, m, 1.0).astype(np.float32)
        q[s : s + chunk] = np.clip(np.rint(part * (127.0 / safe)[:, None]), -127, 127)
        rows[s : s + chunk] = rows_in[s : s + chunk] * m / 127.0
    return q, rows, cols


def context_tables(
    folded: dict[str, np.ndarray], params: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The ``context_*`` arrays of a tables file from a student's folded tables and weights.

    Args:
        folded: ``context_keys``, ``context_bias`` (and, for projected values,
            ``context_values``) float tables [entries, .].
        params: ``context_ln_weight``, ``context_ln_bias``, ``context_query_weight``,
            ``context_query_bias``, ``context_mix_weight``.

    Returns:
        Arrays by name, keys and values int8 with row/column scales (:func:`quantize_table`).
    """
    kq, krows, kcols = quantize_table(folded["context_keys"])
    out = {
        "context_keys": kq,
        "context_key_row_scales": krows,
        "context_key_col_scales": kcols,
        "context_bias": np.asarray(folded["context_bias"], np.float32),
    }
    if "context_values" in folded:
        out.update(zip(_VALUE_TABLES, quantize_table(folded["context_values"]), strict=True))
    out.update({name: np.asarray(value, np.float32) for name, value in params.items()})
    return out
