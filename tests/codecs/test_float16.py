"""float16 codec: round trip within half-precision rounding, exact scoring, range refusal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lance_spiral.codecs import Float16Codec, make_codec
from lance_spiral.codecs.metrics import recall_at
from lance_spiral.errors import NonFiniteError
from tests.support.codecs import exact_scores


@st.composite
def batches(draw: st.DrawFn) -> np.ndarray:
    d = draw(st.sampled_from([1, 3, 7, 64, 383]))
    n = draw(st.integers(1, 20))
    elems = st.floats(-6e4, 6e4, width=32, allow_nan=False, allow_infinity=False)
    return draw(arrays(np.float32, (n, d), elements=elems))


@settings(max_examples=40, deadline=None)
@given(x=batches())
def test_round_trip_within_half_precision(x: np.ndarray) -> None:
    c = Float16Codec().fit(x)
    codes = c.encode(x)
    assert codes.shape == (x.shape[0], 2 * x.shape[1]) and c.param_bytes == 0
    dec = c.decode(codes)
    # Round to nearest: relative 2**-11 for normal values, absolute 2**-25 for subnormals.
    assert (np.abs(dec - x) <= np.maximum(np.abs(x) * 2.0**-11, 2.0**-25) * 1.0001).all()
    np.testing.assert_array_equal(dec, x.astype(np.float16).astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(x=batches(), metric=st.sampled_from(["ip", "cosine", "l2"]))
def test_score_equals_decode_then_metric(x: np.ndarray, metric: str) -> None:
    x = x / 100.0
    c = Float16Codec(metric=metric).fit(x)
    codes = c.encode(x)
    q = np.linspace(-1, 1, x.shape[1], dtype=np.float32)[None, :] + 0.01
    s = c.score(c.prepare(q), codes)
    ref = exact_scores(q, c.decode(codes), "ip" if metric == "cosine" else metric)
    if metric == "cosine":
        ref = exact_scores(q / np.linalg.norm(q), c.decode(codes), "ip")
    np.testing.assert_allclose(s, ref, rtol=1e-4, atol=1e-4 * (np.abs(ref).max() + 1))


def test_values_beyond_float16_range_are_refused() -> None:
    c = Float16Codec().fit(np.zeros((2, 3), np.float32))
    with pytest.raises(NonFiniteError, match="float16 range"):
        c.encode(np.array([[1.0, 7e4, 0.0]], np.float32))


def test_quality_on_scifact(
    scifact_corpus_emb: np.ndarray, scifact_query_emb: np.ndarray, scifact_gt: dict
) -> None:
    c = make_codec("float16", metric="cosine").fit(scifact_corpus_emb)
    codes = c.encode(scifact_corpus_emb)
    assert c.code_bytes == 768
    # Measured: recall@10 .9998 (ties broken differently by half-precision rounding).
    assert recall_at(c.search(scifact_query_emb, codes, 10)[1], scifact_gt["cosine"]) >= 0.998
