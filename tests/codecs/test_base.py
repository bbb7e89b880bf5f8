"""The codec protocol on every built-in H1 codec: bad input, serialisation, corruption."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.codecs import load_codec, make_codec
from lance_spiral.codecs.base import MAGIC, normalize_rows
from lance_spiral.codecs.container import pack_container, read_container
from lance_spiral.errors import (
    CorruptDataError,
    DimensionError,
    DTypeError,
    EmptyInputError,
    FormatVersionError,
    InvalidParameterError,
    LanceSpiralError,
    NonFiniteError,
    NotFittedError,
)
from tests.support.codecs import H1_SPECS

DIM = 13


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal((300, DIM)) * 2.0 + 0.5).astype(np.float32)


@pytest.fixture(params=H1_SPECS)
def fitted(request: pytest.FixtureRequest, data: np.ndarray):
    return make_codec(request.param).fit(data)


@pytest.mark.parametrize("spec", H1_SPECS)
def test_unfitted_codec_refuses_every_call(spec: str, data: np.ndarray) -> None:
    c = make_codec(spec)
    assert not c.fitted
    for call in (
        lambda: c.encode(data),
        lambda: c.decode(np.zeros((1, 4), np.uint8)),
        lambda: c.prepare(data[0]),
        lambda: c.score(None, np.zeros((1, 4), np.uint8)),
        lambda: c.search(data[0], np.zeros((1, 4), np.uint8), 1),
        lambda: c.to_bytes(),
        lambda: c.code_bytes,
        lambda: c.param_bytes,
    ):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()


def test_wrong_dimension(fitted, data: np.ndarray) -> None:
    with pytest.raises(DimensionError, match="dimension"):
        fitted.encode(data[:, :-1])
    with pytest.raises(DimensionError, match="dimension"):
        fitted.prepare(np.zeros(DIM + 1, np.float32))
    with pytest.raises(DimensionError):
        fitted.encode(data[0])  # 1-D batch is refused, not guessed


def test_non_finite_input(fitted, data: np.ndarray) -> None:
    bad = data[:5].copy()
    bad[2, 3] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        fitted.encode(bad)
    bad[2, 3] = np.inf
    with pytest.raises(NonFiniteError):
        fitted.encode(bad)
    with pytest.raises(NonFiniteError):
        fitted.prepare(bad[2])
    with pytest.raises(NonFiniteError):
        make_codec(fitted.spec).fit(bad)


def test_empty_batches(fitted) -> None:
    with pytest.raises(EmptyInputError, match="empty"):
        fitted.encode(np.zeros((0, DIM), np.float32))
    with pytest.raises(EmptyInputError):
        make_codec(fitted.spec).fit(np.zeros((0, DIM), np.float32))


def test_zero_codes_decode_to_empty(fitted) -> None:
    out = fitted.decode(np.zeros((0, fitted.code_bytes), np.uint8))
    assert out.shape == (0, DIM)


def test_wrong_dtypes(fitted, data: np.ndarray) -> None:
    with pytest.raises(DTypeError, match="floating"):
        fitted.encode(data.astype(np.int32))
    with pytest.raises(DTypeError):
        fitted.encode(np.array([["a"] * DIM]))
    with pytest.raises(DTypeError):
        fitted.prepare(None)
    codes = fitted.encode(data[:3])
    with pytest.raises(DTypeError, match="uint8"):
        fitted.decode(codes.astype(np.int16))
    with pytest.raises(DTypeError):
        fitted.decode(codes.tolist())


def test_truncated_and_foreign_codes(fitted, data: np.ndarray) -> None:
    codes = fitted.encode(data[:3])
    flat = codes.reshape(-1)
    with pytest.raises(CorruptDataError, match="truncated"):
        fitted.decode(flat[:-1])
    with pytest.raises(CorruptDataError):
        fitted.decode(codes[:, :-1])
    with pytest.raises(CorruptDataError):
        fitted.score(fitted.prepare(data[0]), codes[:, :-1])
    # A flat, complete buffer is accepted and reshaped.
    assert np.array_equal(fitted.decode(flat), fitted.decode(codes))
    assert np.array_equal(fitted.decode(flat.tobytes()), fitted.decode(codes))


def test_prepared_from_elsewhere_is_refused(fitted, data: np.ndarray) -> None:
    codes = fitted.encode(data[:3])
    with pytest.raises(InvalidParameterError, match="prepare"):
        fitted.score("not prepared", codes)
    other = make_codec("sq:bits=8" if fitted.name != "sq" else "float16").fit(data)
    with pytest.raises(InvalidParameterError):
        fitted.score(other.prepare(data[0]), codes)


def test_search_validates_k(fitted, data: np.ndarray) -> None:
    codes = fitted.encode(data)
    with pytest.raises(InvalidParameterError, match="k"):
        fitted.search(data[0], codes, 0)
    vals, ids = fitted.search(data[:2], codes, 5)
    assert vals.shape == ids.shape == (2, 5)
    assert (np.diff(vals, axis=1) <= 0).all()


def test_serialisation_round_trip(fitted, data: np.ndarray) -> None:
    blob = fitted.to_bytes()
    assert blob.startswith(MAGIC)
    again = load_codec(blob)
    assert type(again) is type(fitted)
    assert again.spec == fitted.spec and again.dim == fitted.dim
    assert again.code_bytes == fitted.code_bytes
    assert again.param_bytes == fitted.param_bytes
    codes = fitted.encode(data)
    assert np.array_equal(again.encode(data), codes)
    assert np.array_equal(again.decode(codes), fitted.decode(codes))
    q = data[:3]
    np.testing.assert_array_equal(again.score(again.prepare(q), codes),
                                  fitted.score(fitted.prepare(q), codes))
    assert type(fitted).from_bytes(blob).spec == fitted.spec


def test_truncated_serialisation(fitted) -> None:
    blob = fitted.to_bytes()
    for cut in (0, 5, len(MAGIC) + 2, len(blob) // 2, len(blob) - 1):
        with pytest.raises(CorruptDataError):
            load_codec(blob[:cut])
    with pytest.raises(CorruptDataError):
        load_codec(blob + b"\x00")
    with pytest.raises(CorruptDataError):
        load_codec("not bytes")  # type: ignore[arg-type]


def test_flipped_byte_is_detected(fitted) -> None:
    blob = bytearray(fitted.to_bytes())
    blob[3] ^= 0xFF  # magic
    with pytest.raises(CorruptDataError):
        load_codec(bytes(blob))
    if fitted.param_bytes:
        blob = bytearray(fitted.to_bytes())
        blob[-1] ^= 0x01  # payload: CRC32
        with pytest.raises(CorruptDataError, match="CRC"):
            load_codec(bytes(blob))


def _rewrite_header(blob: bytes, **changes) -> bytes:
    """The same codec re-sealed with header fields changed (a valid checksum, bad content)."""
    header, arrays = read_container(blob)
    header.update(changes)
    header.pop("arrays")
    return pack_container(header, arrays)


def test_future_format_version(fitted) -> None:
    with pytest.raises(FormatVersionError, match="format version"):
        load_codec(_rewrite_header(fitted.to_bytes(), format_version=fitted.format_version + 1))
    with pytest.raises(FormatVersionError):
        load_codec(_rewrite_header(fitted.to_bytes(), format_version="1"))


def test_corrupt_header_fields(fitted) -> None:
    blob = fitted.to_bytes()
    changes: list[dict] = [{"dim": 0}, {"params": {"bogus": 1}}]
    if fitted.param_bytes:  # the parameters fix the dimension: a different one is corrupt
        changes.append({"dim": DIM + 3})
    for change in changes:
        with pytest.raises(CorruptDataError):
            load_codec(_rewrite_header(blob, **change))
    with pytest.raises(LanceSpiralError):
        load_codec(_rewrite_header(blob, codec="no-such-codec"))


def test_cosine_metric_normalises(data: np.ndarray) -> None:
    for spec in ("sq:bits=8", "float16", "lossless", "binary:bits=5"):
        c = make_codec(spec, metric="cosine").fit(data)
        dec = c.decode(c.encode(data))
        norms = np.linalg.norm(dec, axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=0.05)


def test_normalize_rows_keeps_zero_rows() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = normalize_rows(x)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize("spec", H1_SPECS)
def test_bad_metric_and_seed(spec: str, data: np.ndarray) -> None:
    with pytest.raises(InvalidParameterError, match="metric"):
        make_codec(spec, metric="manhattan")
    with pytest.raises(InvalidParameterError, match="seed"):
        make_codec(spec).fit(data, seed=-1)
