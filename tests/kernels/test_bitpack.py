"""Bit packing kernels: round trip for every width, layout, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lance_spiral.errors import CorruptDataError, DimensionError, DTypeError, InvalidParameterError
from lance_spiral.kernels.bitpack import pack_bits, packed_bytes, unpack_bits


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 8), n=st.integers(0, 20), d=st.integers(1, 70),
       seed=st.integers(0, 2**31))
def test_round_trip_every_width(bits: int, n: int, d: int, seed: int) -> None:
    vals = np.random.default_rng(seed).integers(0, 1 << bits, (n, d)).astype(np.uint8)
    packed = pack_bits(vals, bits)
    assert packed.shape == (n, packed_bytes(d, bits)) == (n, -(-d * bits // 8))
    assert np.array_equal(unpack_bits(packed, bits, d), vals)
    # Little-endian bit stream, zero padding: numpy's own unpackbits agrees.
    stream = np.unpackbits(packed, axis=1, bitorder="little")
    weights = 1 << np.arange(bits)
    ref = stream[:, : d * bits].reshape(n, d, bits) @ weights
    assert np.array_equal(ref, vals)
    assert not stream[:, d * bits :].any()


def test_known_layouts() -> None:
    assert pack_bits(np.array([[1, 2]], np.uint8), 4).tolist() == [[0x21]]
    assert pack_bits(np.array([[1, 2, 3, 0]], np.uint8), 2).tolist() == [[0b00111001]]
    six = pack_bits(np.array([[1, 2, 3, 4]], np.uint8), 6)
    assert six.shape == (1, 3)
    assert int.from_bytes(six.tobytes(), "little") == 1 | 2 << 6 | 3 << 12 | 4 << 18


def test_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="bits"):
        pack_bits(np.zeros((1, 2), np.uint8), 9)
    with pytest.raises(InvalidParameterError, match="2\\*\\*bits"):
        pack_bits(np.full((1, 2), 4, np.uint8), 2)
    with pytest.raises(DTypeError):
        pack_bits(np.zeros((1, 2), np.int64), 4)
    with pytest.raises(DimensionError):
        pack_bits(np.zeros(4, np.uint8), 4)
    with pytest.raises(CorruptDataError, match="bytes per row"):
        unpack_bits(np.zeros((2, 3), np.uint8), 4, 7)
