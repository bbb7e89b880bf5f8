"""Registration of the encoded-vector extension type with pyarrow (on import of the package)."""

from __future__ import annotations

import threading

import pyarrow as pa

from lance_spiral.arrow.types import EXTENSION_NAME, METADATA_VERSION, EncodedVectorType

__all__ = ["is_registered", "register", "unregister"]

_LOCK = threading.Lock()
_REGISTERED = False


def register() -> bool:
    """Register :class:`EncodedVectorType` with pyarrow; returns False if already registered."""
    global _REGISTERED
    with _LOCK:
        if _REGISTERED:
            return False
        try:
            pa.register_extension_type(_prototype())
        except pa.ArrowKeyError:
            # Registered by an earlier import of this module (e.g. a reload): replace it so
            # arrays get this module's classes.
            pa.unregister_extension_type(EXTENSION_NAME)
            pa.register_extension_type(_prototype())
        _REGISTERED = True
        return True


def unregister() -> bool:
    """Unregister the type; returns False if it was not registered."""
    global _REGISTERED
    with _LOCK:
        try:
            pa.unregister_extension_type(EXTENSION_NAME)
        except pa.ArrowKeyError:
            _REGISTERED = False
            return False
        _REGISTERED = False
        return True


def is_registered() -> bool:
    """Whether this module's type is currently registered with pyarrow."""
    return _REGISTERED


def _prototype() -> EncodedVectorType:
    meta = {"version": METADATA_VERSION, "codec": "prototype", "spec": "prototype",
            "code_bytes": 1, "dim": 1, "metric": "ip", "sha256": "0" * 64, "params": ""}
    return EncodedVectorType(meta)
