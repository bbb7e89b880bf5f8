"""Codec registry: names, spec parsing, make_codec / load_codec, unknown names."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.codecs import (
    BinaryQuantizer,
    Codec,
    Float16Codec,
    LosslessCodec,
    ScalarQuantizer,
    available_codecs,
    get_codec_class,
    load_codec,
    make_codec,
    parse_spec,
    register_codec,
)
from lance_spiral.errors import InvalidParameterError, UnknownCodecError
from tests.support.codecs import H1_SPECS


def test_builtin_codecs_are_registered() -> None:
    names = available_codecs()
    for name, cls in (("sq", ScalarQuantizer), ("binary", BinaryQuantizer),
                      ("float16", Float16Codec), ("lossless", LosslessCodec)):
        assert name in names
        assert get_codec_class(name) is cls


def test_parse_spec_types_values() -> None:
    assert parse_spec("sq:bits=4,metric=l2") == ("sq", {"bits": 4, "metric": "l2"})
    assert parse_spec(" binary ") == ("binary", {})
    assert parse_spec("x:a=1.5,b=true,c=no") == ("x", {"a": 1.5, "b": True, "c": False})
    with pytest.raises(InvalidParameterError, match="key=value"):
        parse_spec("sq:bits")
    for bad in ("", "   ", None, 3):
        with pytest.raises(UnknownCodecError):
            parse_spec(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", H1_SPECS)
def test_spec_round_trips_through_make_codec(spec: str) -> None:
    c = make_codec(spec)
    again = make_codec(c.spec)
    assert again.params() == c.params() and type(again) is type(c)


def test_overrides_win_and_unknown_params_fail() -> None:
    assert make_codec("sq:bits=4", bits=2).bits == 2  # type: ignore[attr-defined]
    with pytest.raises(InvalidParameterError, match="sq"):
        make_codec("sq:colour=red")


def test_unknown_codec_names_the_choices() -> None:
    with pytest.raises(UnknownCodecError, match="available"):
        make_codec("zip:level=3")
    with pytest.raises(UnknownCodecError):
        get_codec_class("nope")


def test_load_codec_dispatches_by_name() -> None:
    x = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    for spec in H1_SPECS:
        c = make_codec(spec).fit(x)
        assert type(load_codec(c.to_bytes())) is type(c)
    with pytest.raises(Exception, match="not 'sq'"):
        ScalarQuantizer.from_bytes(make_codec("float16").fit(x).to_bytes())


def test_register_rejects_duplicates_and_nameless() -> None:
    class Nameless(Float16Codec):
        name = ""

    with pytest.raises(InvalidParameterError, match="no codec name"):
        register_codec(Nameless)

    class Clash(Float16Codec):
        name = "sq"

    with pytest.raises(InvalidParameterError, match="already registered"):
        register_codec(Clash)
    assert register_codec(ScalarQuantizer) is ScalarQuantizer  # idempotent
    assert issubclass(ScalarQuantizer, Codec)
