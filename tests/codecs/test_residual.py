"""Residual quantiser ("rq"): layout, stages reduce error, score on codes == decode-then-score,
serialisation, bad input, real-data floor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lance_spiral.codecs import ResidualQuantizer, load_codec, make_codec
from lance_spiral.codecs.metrics import recall_at
from lance_spiral.errors import CorruptDataError, InvalidParameterError
from tests.support.codecs import exact_scores


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), d=st.sampled_from([3, 8, 13]),
       metric=st.sampled_from(["ip", "cosine", "l2"]), levels=st.integers(1, 3))
def test_score_on_codes_equals_decode_then_score(seed: int, d: int, metric: str,
                                                 levels: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((80, d)) * 3 + rng.standard_normal(d)).astype(np.float32)
    c = ResidualQuantizer(nlist=4, m=min(d, 4), bits=4, quantization_levels=levels,
                          metric=metric, n_iter=4).fit(x)
    codes = c.encode(x)
    assert codes.shape[1] == c.code_bytes == 1 + levels * 2 + (2 if metric == "l2" else 0)
    q = x[:3] * 0.5 + 0.2
    s = c.score(c.prepare(q), codes)
    dec = c.decode(codes).astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    ref = exact_scores(q, dec, "l2") if metric == "l2" else q.astype(np.float64) @ dec.T
    # l2 uses the float16 norm of the reconstruction: relative error ~1e-3 of |x^|^2.
    tol = 2e-3 * float(np.abs(ref).max() + 1) if metric == "l2" else 1e-4 * float(
        np.abs(ref).max() + 1e-6)
    np.testing.assert_allclose(s, ref, atol=tol, rtol=1e-4)


def test_more_stages_reconstruct_better(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:2000]
    errs = []
    for levels in (1, 2):
        c = ResidualQuantizer(nlist=16, m=24, bits=4, quantization_levels=levels,
                              n_iter=5).fit(x)
        errs.append(float(((x - c.decode(c.encode(x))) ** 2).sum(1).mean()))
    assert errs[1] < 0.9 * errs[0]


def test_id_width_follows_nlist() -> None:
    assert ResidualQuantizer(nlist=256, m=4).code_bytes == 1 + 4
    assert ResidualQuantizer(nlist=257, m=4).code_bytes == 2 + 4
    assert ResidualQuantizer(nlist=70000, m=4).code_bytes == 4 + 4


def test_serialisation_and_corrupt_ids() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    c = ResidualQuantizer(nlist=8, m=6, bits=4, quantization_levels=2).fit(x)
    d = load_codec(c.to_bytes())
    codes = c.encode(x)
    np.testing.assert_array_equal(d.encode(x), codes)
    np.testing.assert_allclose(d.decode(codes), c.decode(codes))
    bad = codes.copy()
    bad[0, 0] = 200  # centroid id beyond nlist=8
    with pytest.raises(CorruptDataError, match="centroid id"):
        c.decode(bad)


def test_bad_input() -> None:
    x = np.random.default_rng(6).standard_normal((20, 8)).astype(np.float32)
    with pytest.raises(InvalidParameterError, match="too few training vectors"):
        ResidualQuantizer(nlist=32, m=4, bits=4).fit(x)
    with pytest.raises(InvalidParameterError, match="exceeds the dimension"):
        ResidualQuantizer(nlist=2, m=16, bits=4).fit(x)
    with pytest.raises(InvalidParameterError):
        make_codec("rq:bits=6")
    with pytest.raises(InvalidParameterError):
        make_codec("rq:quantization_levels=0")


def test_real_data_recall_floor(scifact_corpus_emb: np.ndarray, scifact_query_emb: np.ndarray,
                                scifact_gt: dict[str, np.ndarray]) -> None:
    c = make_codec("rq:nlist=16,m=47,bits=8", n_iter=8).fit(scifact_corpus_emb)
    assert c.code_bytes == 48
    _, idx = c.search(scifact_query_emb, c.encode(scifact_corpus_emb), 10)
    assert recall_at(idx, scifact_gt["ip"]) >= 0.6
