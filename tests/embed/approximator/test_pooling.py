from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.embed.approximator.pooling import pool_folded, quantize_table
from lance_spiral.errors import InvalidInputError


def reference(flat, offsets, feats, logits) -> np.ndarray:
    heads = logits.shape[1]
    dh = feats.shape[1] // heads
    out = np.zeros((len(offsets) - 1, feats.shape[1]), np.float32)
    for b in range(len(offsets) - 1):
        ids = flat[offsets[b] : offsets[b + 1]]
        if len(ids) == 0:
            continue
        for h in range(heads):
            lg = logits[ids, h]
            w = np.exp(lg - lg.max())
            w /= w.sum()
            out[b, h * dh : (h + 1) * dh] = w @ feats[ids, h * dh : (h + 1) * dh]
    return out


def test_pool_matches_reference_and_is_order_free() -> None:
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((50, 12)).astype(np.float32)
    logits = rng.standard_normal((50, 3)).astype(np.float32)
    flat = rng.integers(1, 50, 40)
    offsets = np.array([0, 5, 5, 17, 40])
    got = pool_folded(flat, offsets, feats, logits)
    assert np.allclose(got, reference(flat, offsets, feats, logits), atol=1e-5)
    assert np.allclose(got[1], 0)
    shuffled = flat.copy()
    shuffled[17:40] = shuffled[17:40][::-1]
    assert np.allclose(pool_folded(shuffled, offsets, feats, logits)[3], got[3], atol=1e-5)


def test_pool_rejects_bad_input() -> None:
    feats = np.zeros((5, 4), np.float32)
    logits = np.zeros((5, 3), np.float32)
    with pytest.raises(InvalidInputError):
        pool_folded(np.array([1]), np.array([0, 1]), feats, logits)
    with pytest.raises(InvalidInputError):
        pool_folded(np.array([9]), np.array([0, 1]), feats, np.zeros((5, 2), np.float32))
    with pytest.raises(InvalidInputError):
        pool_folded(np.array([1, 2]), np.array([0, 1]), feats, np.zeros((5, 2), np.float32))


def test_int8_table_pools_like_its_dequantised_table() -> None:
    rng = np.random.default_rng(1)
    feats = (rng.standard_normal((60, 16)) * rng.uniform(0.01, 5, (60, 1))).astype(np.float32)
    feats[:, 3] *= 20  # an outlier channel, as folded tables have
    feats[7] = 0.0  # an all-zero row keeps scale 0
    logits = rng.standard_normal((60, 4)).astype(np.float32)
    q, rows, cols = quantize_table(feats)
    assert q.dtype == np.int8 and rows.dtype == cols.dtype == np.float32 and rows[7] == 0
    deq = q.astype(np.float32) * rows[:, None] * cols[None, :]
    assert np.all(np.abs(deq - feats) <= rows[:, None] * cols[None, :] / 2 + 1e-6)
    assert np.all(np.abs(q).max(1)[rows > 0] == 127)  # each row uses the full range
    # The column scales pay for themselves: with per-row scales alone the outlier channel sets
    # every row's step, and the other channels lose their precision.
    row_only = np.abs(feats).max(1, keepdims=True) / 127
    plain = np.rint(feats / np.where(row_only > 0, row_only, 1)) * row_only

    def rel(x: np.ndarray) -> float:
        rest = np.arange(16) != 3
        norms = np.linalg.norm(feats[:, rest], axis=1)
        err = np.linalg.norm((x - feats)[:, rest], axis=1)
        return float((err[norms > 0] / norms[norms > 0]).mean())

    assert rel(deq) < 0.5 * rel(plain)
    flat = rng.integers(1, 60, 90)
    offsets = np.array([0, 1, 30, 30, 90])
    got = pool_folded(flat, offsets, q, logits, (rows, cols))
    assert np.allclose(got, reference(flat, offsets, deq, logits), atol=1e-4)
    assert np.allclose(got, pool_folded(flat, offsets, feats, logits), rtol=0.02, atol=0.1)
    with pytest.raises(InvalidInputError, match="one scale per row"):
        pool_folded(flat, offsets, q, logits)
    with pytest.raises(InvalidInputError, match="one scale per row"):
        pool_folded(flat, offsets, q, logits, (rows[:5], cols))
    with pytest.raises(InvalidInputError, match="one scale per row"):
        pool_folded(flat, offsets, q, logits, (rows, cols[:3]))
    # Float features take scales too (the approximator passes ones made once at load).
    scaled = feats * rows[:, None] * cols[None, :]
    assert np.allclose(
        pool_folded(flat, offsets, feats, logits, (rows, cols)),
        pool_folded(flat, offsets, scaled, logits),
        atol=1e-5,
    )
    with pytest.raises(InvalidInputError, match="one scale per row"):
        pool_folded(flat, offsets, feats, logits, (rows, cols[:3]))
    with pytest.raises(InvalidInputError, match="NaN"):
        quantize_table(np.full((2, 3), np.nan, np.float32))
    with pytest.raises(InvalidInputError, match="2-D"):
        quantize_table(np.zeros(3, np.float32))


def test_context_pass_matches_a_numpy_reference() -> None:
    from lance_spiral.embed.approximator.context import ContextPass, context_tables

    rng = np.random.default_rng(2)
    n, hidden, heads, k = 40, 16, 2, 8
    feats = rng.standard_normal((n, hidden)).astype(np.float32)
    logits = rng.standard_normal((n, 4)).astype(np.float32)
    keys = rng.standard_normal((n, k)).astype(np.float32)
    bias = rng.standard_normal((n, heads)).astype(np.float32)
    params = {
        "context_ln_weight": rng.uniform(0.5, 1.5, hidden),
        "context_ln_bias": rng.standard_normal(hidden) * 0.1,
        "context_query_weight": rng.standard_normal((k, hidden)),
        "context_query_bias": rng.standard_normal(k),
        "context_mix_weight": rng.standard_normal((hidden, hidden)) * 0.3,
    }
    q8, rows, cols = quantize_table(feats)
    tables = {
        "features": q8,
        "row_scales": rows,
        "col_scales": cols,
        **context_tables({"context_keys": keys, "context_bias": bias}, params),
    }
    ctx = ContextPass.from_tables(tables, n, hidden)
    assert ctx is not None and ctx.heads == heads and ctx.values is tables["features"]
    flat = rng.integers(1, n, 30)
    offsets = np.array([0, 7, 7, 30])
    first = pool_folded(flat, offsets, q8, logits, (rows, cols))
    got = ctx.apply(flat, offsets, first)
    # Reference: float tables as dequantised, the maths written out.
    deq = q8 * rows[:, None] * cols[None, :]
    kq = tables["context_keys"] * tables["context_key_row_scales"][:, None]
    kq = kq * tables["context_key_col_scales"][None, :]
    mu, var = first.mean(1, keepdims=True), first.var(1, keepdims=True)
    ln = (first - mu) / np.sqrt(var + 1e-5) * params["context_ln_weight"]
    q = (ln + params["context_ln_bias"]) @ params["context_query_weight"].T
    q = q + params["context_query_bias"]
    dk = k // heads
    want = first.copy()
    for b in range(len(offsets) - 1):
        ids = flat[offsets[b] : offsets[b + 1]]
        if len(ids) == 0:
            continue
        second = np.zeros(hidden)
        for h in range(heads):
            lg = kq[ids, h * dk : (h + 1) * dk] @ q[b, h * dk : (h + 1) * dk] / np.sqrt(dk)
            lg = lg + bias[ids, h]
            w = np.exp(lg - lg.max())
            w /= w.sum()
            width = hidden // heads
            second[h * width : (h + 1) * width] = w @ deq[ids, h * width : (h + 1) * width]
        want[b] += params["context_mix_weight"] @ second
    assert np.allclose(got, want, atol=1e-3)
    assert np.allclose(got[1], first[1])  # an empty text: nothing to pool, nothing added
    # No context arrays: no context pass; the feature table is needed for feature values.
    assert ContextPass.from_tables({"features": q8}, n, hidden) is None
    no_feats = {k: v for k, v in tables.items() if k != "features"}
    with pytest.raises(InvalidInputError, match="feature table"):
        ContextPass.from_tables(no_feats, n, hidden)
    with pytest.raises(InvalidInputError, match="context_value_col_scales"):
        ContextPass.from_tables({**tables, "context_values": q8}, n, hidden)


def test_context_keys_derived_from_the_features_match_the_stored_keys() -> None:
    from lance_spiral.embed.approximator.context import (
        ContextPass,
        context_tables,
        derive_context_keys,
    )

    rng = np.random.default_rng(3)
    n, hidden, heads, k = 50, 16, 2, 8
    feats = rng.standard_normal((n, hidden)).astype(np.float32)
    feats[:, 3] *= 20  # a large channel, as folded features have
    weight = rng.standard_normal((k, hidden)).astype(np.float32) * 0.3
    q8, rows, cols = quantize_table(feats)
    # chunk=7: the chunked passes give the same table as one pass over the rows.
    kq, krows, kcols = derive_context_keys(q8, rows, cols, weight, chunk=7)
    assert kq.dtype == np.int8 and kq.shape == (n, k) and krows.shape == (n,)
    deq = q8 * rows[:, None] * cols[None, :]
    want = deq @ weight.T
    got = kq * krows[:, None] * kcols[None, :]
    assert np.abs(got - want).max() <= 0.01 * np.abs(want).max()
    same = derive_context_keys(q8, rows, cols, weight, chunk=1000)
    assert all(np.array_equal(a, b) for a, b in zip((kq, krows, kcols), same, strict=True))
    # Given the keys' column scales (one product instead of two), the same table.
    given = derive_context_keys(q8, rows, cols, weight, key_col_scales=kcols, chunk=9)
    assert all(np.allclose(a, b) for a, b in zip((kq, krows, kcols), given, strict=True))
    bias = rng.standard_normal((n, heads)).astype(np.float32)
    params = {
        "context_ln_weight": np.ones(hidden),
        "context_ln_bias": np.zeros(hidden),
        "context_query_weight": rng.standard_normal((k, hidden)),
        "context_query_bias": np.zeros(k),
        "context_mix_weight": rng.standard_normal((hidden, hidden)) * 0.3,
    }
    base = {"features": q8, "row_scales": rows, "col_scales": cols}
    stored = {**base, **context_tables({"context_keys": want, "context_bias": bias}, params)}
    slim = {
        key: value
        for key, value in stored.items()
        if key not in ("context_keys", "context_key_row_scales", "context_key_col_scales")
    }
    slim["context_key_weight"] = weight
    with_cols = {**slim, "context_key_col_scales": stored["context_key_col_scales"]}
    a = ContextPass.from_tables(stored, n, hidden)
    b = ContextPass.from_tables(slim, n, hidden)
    c = ContextPass.from_tables(with_cols, n, hidden)
    assert a is not None and b is not None and c is not None
    assert np.array_equal(c.key_scales[1], stored["context_key_col_scales"])
    flat = rng.integers(1, n, 40)
    offsets = np.array([0, 12, 40])
    first = pool_folded(
        flat, offsets, q8, rng.standard_normal((n, 4)).astype(np.float32), (rows, cols)
    )
    assert np.allclose(a.apply(flat, offsets, first), b.apply(flat, offsets, first), atol=1e-2)
    assert np.allclose(a.apply(flat, offsets, first), c.apply(flat, offsets, first), atol=1e-2)
    with pytest.raises(InvalidInputError, match="context_key_weight"):
        ContextPass.from_tables({**slim, "context_key_weight": weight[:, :3]}, n, hidden)
    with pytest.raises(InvalidInputError, match="feature table"):
        ContextPass.from_tables({k: v for k, v in slim.items() if k != "features"}, n, hidden)
