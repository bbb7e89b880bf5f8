"""Codec registry: look codecs up by name, build them from spec strings, load them from bytes.

Codec modules register their class on import (:func:`register_codec`); importing any part of
:mod:`lance_spiral.codecs` runs the package's ``__init__`` first, which imports every built-in
codec, so the registry is complete before any lookup.
"""

from __future__ import annotations

from typing import Any, TypeVar

from lance_spiral.codecs.base import Codec
from lance_spiral.codecs.container import read_container
from lance_spiral.errors import InvalidParameterError, UnknownCodecError

__all__ = ["available_codecs", "get_codec_class", "load_codec", "make_codec", "parse_spec",
           "register_codec"]

_REGISTRY: dict[str, type[Codec]] = {}
T = TypeVar("T", bound=type[Codec])


def register_codec(cls: T) -> T:
    """Class decorator: register a codec class under its ``name``."""
    if not cls.name:
        raise InvalidParameterError(f"{cls.__name__} has no codec name")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise InvalidParameterError(f"codec name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def available_codecs() -> list[str]:
    """Names of all registered codecs."""
    return sorted(_REGISTRY)


def get_codec_class(name: str) -> type[Codec]:
    """Return the codec class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCodecError(
            f"unknown codec {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into ``(name, params)`` with typed values."""
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownCodecError(f"codec spec must be a non-empty string, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InvalidParameterError(
                f"bad codec spec item {item!r} in {spec!r} (want key=value)"
            )
        params[key.strip()] = _parse_value(value.strip())
    return name.strip(), params


def make_codec(spec: str, **overrides: Any) -> Codec:
    """Build an unfitted codec from a spec string such as ``"sq:bits=4"``.

    Keyword ``overrides`` win over values in the spec.
    """
    name, params = parse_spec(spec)
    params.update(overrides)
    cls = get_codec_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidParameterError(f"bad parameters for codec {name!r}: {exc}") from exc


def load_codec(data: bytes) -> Codec:
    """Load any registered codec from :meth:`Codec.to_bytes` output."""
    header, arrays = read_container(data)
    cls = get_codec_class(str(header.get("codec")))
    return cls._from_parts(header, arrays)


def _parse_value(v: str) -> Any:
    low = v.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v
