"""Product quantiser ("pq"): nearest-codeword property, ADC == decode-then-score, fast-scan,
OPQ, padding, serialisation, bad input, real-data floors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lance_spiral.codecs import ProductQuantizer, load_codec, make_codec
from lance_spiral.codecs.metrics import recall_at
from lance_spiral.errors import CorruptDataError, InvalidParameterError, NotFittedError
from lance_spiral.kernels import pq as kpq
from tests.support.codecs import exact_scores


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    d = draw(st.sampled_from([2, 5, 8, 12, 31]))
    m = draw(st.integers(1, d))
    n = draw(st.integers(16, 60))
    seed = draw(st.integers(0, 2**31))
    scale = draw(st.sampled_from([1e-2, 1.0, 30.0]))
    rng = np.random.default_rng(seed)
    x = ((rng.standard_normal((n, d)) + rng.standard_normal(d)) * scale).astype(np.float32)
    return x, m


def _prep(x: np.ndarray, metric: str) -> np.ndarray:
    if metric != "cosine":
        return x
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


@settings(max_examples=25, deadline=None)
@given(case=cases(), metric=st.sampled_from(["ip", "cosine", "l2"]))
def test_each_code_is_the_nearest_codeword(case: tuple[np.ndarray, int], metric: str) -> None:
    x, m = case
    c = ProductQuantizer(m=m, bits=4, metric=metric, n_iter=5).fit(x)
    codes = c.encode(x)
    assert codes.shape == (len(x), (m + 1) // 2) == (len(x), c.code_bytes)
    ref = _prep(x, metric)
    own = ((ref - c.decode(codes)) ** 2).sum(1)
    # Any other code (here: the other rows' codes) reconstructs no closer: PQ picks the nearest
    # codeword per sub-vector, so the summed error is minimal.
    other = ((ref - c.decode(codes[::-1])) ** 2).sum(1)
    assert (own <= other + 1e-4 * (1 + other)).all()


@settings(max_examples=25, deadline=None)
@given(case=cases(), metric=st.sampled_from(["ip", "cosine", "l2"]), bits=st.sampled_from([4, 8]))
def test_score_on_codes_equals_decode_then_score(
    case: tuple[np.ndarray, int], metric: str, bits: int
) -> None:
    x, m = case
    if bits == 8 and len(x) < 256:
        x = np.concatenate([x] * (256 // len(x) + 1))
    c = ProductQuantizer(m=m, bits=bits, metric=metric, n_iter=3).fit(x)
    codes = c.encode(x)
    q = x[:3] * 0.5 + 0.1
    s = c.score(c.prepare(q), codes)
    dec = c.decode(codes).astype(np.float64)
    qq = _prep(q, metric).astype(np.float64)
    ref = exact_scores(qq, dec, "l2") if metric == "l2" else qq @ dec.T
    scale = float(np.abs(ref).max()) + 1e-6
    np.testing.assert_allclose(s, ref, atol=1e-4 * scale, rtol=1e-4)


def test_dim_not_divisible_by_m_is_zero_padded() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 10)).astype(np.float32)
    c = ProductQuantizer(m=3, bits=8).fit(x)
    assert c.codebooks is not None and c.codebooks.shape == (3, 256, 4)
    assert c.code_bytes == 3 and c.decode(c.encode(x)).shape == (300, 10)


def test_fastscan_layout_and_scores() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 24)).astype(np.float32)
    c = ProductQuantizer(m=12, bits=4).fit(x)
    codes = c.encode(x[:77])
    blocks = c.fastscan_blocks(codes)
    assert blocks.shape == (3, 6, 32)
    # Vector 40 is slot 8 of block 1; its byte p is packed code byte p.
    np.testing.assert_array_equal(blocks[1, :, 8], codes[40])
    assert (blocks[2, :, 13:] == 0).all()
    prep = c.prepare(x[:4])
    exact = c.score(prep, codes)
    approx = c.score_fastscan(prep, blocks, len(codes))
    # uint8 tables: per-table rounding error <= scale/2, 12 tables.
    _, _, scale = kpq.quantize_tables(prep.sub_tables)
    assert (np.abs(approx - exact) <= 12 * scale[:, None] / 2 + 1e-4).all()


def test_nibble_pack_round_trip() -> None:
    idx = np.random.default_rng(2).integers(0, 16, (9, 7)).astype(np.uint8)
    np.testing.assert_array_equal(kpq.unpack_nibbles(kpq.pack_nibbles(idx), 7), idx)


def test_serialisation_round_trip_and_corruption() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    c = ProductQuantizer(m=4, bits=8, opq=1, metric="l2").fit(x)
    data = c.to_bytes()
    d = load_codec(data)
    assert isinstance(d, ProductQuantizer) and d.spec == c.spec
    np.testing.assert_array_equal(d.encode(x), c.encode(x))
    np.testing.assert_array_equal(d.score(d.prepare(x[:2]), c.encode(x)),
                                  c.score(c.prepare(x[:2]), c.encode(x)))
    assert c.param_bytes == 4 * 256 * 4 * 4 + 16 * 16 * 4
    bad = bytearray(data)
    bad[-5] ^= 0xFF
    with pytest.raises(CorruptDataError):
        load_codec(bytes(bad))
    with pytest.raises(CorruptDataError):
        load_codec(data[:-3])


def test_opq_rotation_is_orthogonal_and_helps(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:800]
    plain = ProductQuantizer(m=24, bits=4, n_iter=8).fit(x)
    opq = ProductQuantizer(m=24, bits=4, opq=1, n_iter=8).fit(x)
    assert opq.rotation is not None
    np.testing.assert_allclose(opq.rotation @ opq.rotation.T, np.eye(384), atol=1e-4)
    err = [float(((x - c.decode(c.encode(x))) ** 2).sum(1).mean()) for c in (plain, opq)]
    assert err[1] < err[0]


def test_bad_input() -> None:
    x = np.random.default_rng(4).standard_normal((100, 8)).astype(np.float32)
    with pytest.raises(InvalidParameterError, match="too few training vectors"):
        ProductQuantizer(m=4, bits=8).fit(x)
    with pytest.raises(InvalidParameterError, match="exceed the dimension"):
        ProductQuantizer(m=9, bits=4).fit(x)
    with pytest.raises(InvalidParameterError, match="bits"):
        make_codec("pq:m=4,bits=5")
    with pytest.raises(InvalidParameterError):
        ProductQuantizer(m=0)
    with pytest.raises(NotFittedError):
        ProductQuantizer(m=4).encode(x)
    c = ProductQuantizer(m=4, bits=8).fit(np.concatenate([x] * 3))
    with pytest.raises(InvalidParameterError, match="bits=4"):
        c.fastscan_blocks(c.encode(x))


@pytest.mark.parametrize(
    ("spec", "floor"),
    [("pq:m=48,bits=8", 0.62), ("pq:m=96,bits=4", 0.6),
     ("pq:m=48,bits=8,opq=1,opq_iter=6", 0.64)],
)
def test_real_data_recall_floor(
    spec: str, floor: float, scifact_corpus_emb: np.ndarray, scifact_query_emb: np.ndarray,
    scifact_gt: dict[str, np.ndarray],
) -> None:
    c = make_codec(spec, n_iter=10).fit(scifact_corpus_emb)
    codes = c.encode(scifact_corpus_emb)
    _, idx = c.search(scifact_query_emb, codes, 10)
    assert recall_at(idx, scifact_gt["ip"]) >= floor
    if c.bits == 4:
        _, fs = c.search_fastscan(scifact_query_emb, codes, 10)
        assert recall_at(fs, scifact_gt["ip"]) >= floor - 0.01
