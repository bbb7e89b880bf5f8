"""lossless codec: bit-exact codes, shuffle + zstd batch blobs, corruption and versions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lance_spiral.codecs import LosslessCodec, make_codec
from lance_spiral.codecs.lossless import BLOB_MAGIC
from lance_spiral.errors import CorruptDataError, DTypeError, FormatVersionError, NotFittedError


@st.composite
def batches(draw: st.DrawFn) -> np.ndarray:
    d = draw(st.sampled_from([1, 2, 7, 383]))
    n = draw(st.integers(1, 20))
    elems = st.floats(width=32, allow_nan=False, allow_infinity=False)
    return draw(arrays(np.float32, (n, d), elements=elems))


@settings(max_examples=40, deadline=None)
@given(x=batches(), metric=st.sampled_from(["ip", "l2"]))
def test_bit_exact_round_trip(x: np.ndarray, metric: str) -> None:
    c = LosslessCodec(metric=metric).fit(x)
    codes = c.encode(x)
    assert codes.shape == (x.shape[0], 4 * x.shape[1])
    assert np.array_equal(c.decode(codes).view(np.uint32), x.view(np.uint32))
    blob = c.compress(codes)
    assert np.array_equal(c.decompress(blob), codes)
    assert np.array_equal(c.unpack(c.pack(x)).view(np.uint32), x.view(np.uint32))


def test_float16_input_round_trips_exactly() -> None:
    x16 = np.random.default_rng(0).standard_normal((10, 5)).astype(np.float16)
    c = LosslessCodec().fit(x16)
    assert np.array_equal(c.decode(c.encode(x16)), x16.astype(np.float32))


def test_score_is_exact(scifact_corpus_emb: np.ndarray, scifact_query_emb: np.ndarray) -> None:
    x, q = scifact_corpus_emb, scifact_query_emb[:20]
    for metric in ("ip", "l2"):
        c = LosslessCodec(metric=metric).fit(x)
        s = c.score(c.prepare(q), c.encode(x))
        ref = q @ x.T
        if metric == "l2":
            ref = -((q**2).sum(1)[:, None] - 2 * ref + (x**2).sum(1)[None, :])
        np.testing.assert_allclose(s, ref, atol=1e-5)


def test_compression_ratio_on_real_embeddings(scifact_corpus_emb: np.ndarray) -> None:
    # Measured 1.18x at level 1: real float32 embeddings barely compress (FRONTIER.md).
    c = make_codec("lossless").fit(scifact_corpus_emb)
    blob = c.pack(scifact_corpus_emb)
    ratio = scifact_corpus_emb.nbytes / len(blob)
    assert 1.12 < ratio < 1.25


def test_blob_corruption_and_versions() -> None:
    x = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    c = LosslessCodec().fit(x)
    blob = c.pack(x)
    with pytest.raises(CorruptDataError):
        c.decompress(blob[:10])
    with pytest.raises(CorruptDataError):
        c.decompress(blob[:-3])
    with pytest.raises(CorruptDataError, match="magic"):
        c.decompress(b"X" + blob[1:])
    flipped = bytearray(blob)
    flipped[len(blob) // 2 + 20] ^= 0x10
    with pytest.raises(CorruptDataError):
        c.decompress(bytes(flipped))
    future = bytearray(blob)
    future[len(BLOB_MAGIC)] = 9
    with pytest.raises(FormatVersionError):
        c.decompress(bytes(future))
    with pytest.raises(CorruptDataError, match="dim"):
        LosslessCodec().fit(np.zeros((2, 9), np.float32)).decompress(blob)
    with pytest.raises(CorruptDataError):
        c.decompress(12345)  # type: ignore[arg-type]
    with pytest.raises(DTypeError):
        c.compress(np.zeros((2, 32), np.int8))
    with pytest.raises(CorruptDataError):
        c.compress(np.zeros((2, 31), np.uint8))
    with pytest.raises(NotFittedError):
        LosslessCodec().compress(np.zeros((1, 4), np.uint8))
