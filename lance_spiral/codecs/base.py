"""The codec protocol shared by every vector codec, and its versioned binary format.

A codec learns parameters from a sample (:meth:`Codec.fit`), turns float vectors into fixed-width
``uint8`` codes (:meth:`Codec.encode`) and back (:meth:`Codec.decode`), and scores queries
against codes without decoding them (:meth:`Codec.prepare` + :meth:`Codec.score`).

Conventions every codec follows:

* ``score`` is *higher is better* for every metric: the inner product for ``ip``, the cosine
  for ``cosine`` and the negative squared Euclidean distance for ``l2``.
* With ``metric="cosine"`` vectors are L2-normalised before encoding, so ``decode`` returns
  unit vectors (a zero vector stays zero).
* ``code_bytes`` is the exact width of one code; ``param_bytes`` the exact size of the fitted
  parameters (codebooks, ranges, rotations...) as stored by :meth:`Codec.to_bytes`.
* Serialised codecs are a small JSON header plus raw little-endian arrays, sealed by a CRC32
  of the whole (:mod:`lance_spiral.codecs.container`): never pickle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_codes, as_query, as_vectors, check_int, check_metric
from lance_spiral.codecs.container import MAGIC, pack_container, read_container
from lance_spiral.errors import (
    CorruptDataError,
    FormatVersionError,
    InvalidParameterError,
    NotFittedError,
)

__all__ = ["MAGIC", "Codec", "normalize_rows", "read_container"]

C = TypeVar("C", bound="Codec")


def normalize_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Return ``x`` with unit-norm rows (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


class Codec(ABC):
    """Base class of every vector codec.

    Subclasses set ``name`` (the registry key), implement the ``_fit``, ``_encode``, ``_decode``,
    ``_prepare``, ``_score`` hooks, ``code_bytes``, ``params`` and the state hooks, and call
    ``super().__init__(metric=...)``. Public methods validate input and then call the hooks with
    clean, C-contiguous float32 data already normalised for the cosine metric.
    """

    name: ClassVar[str] = ""
    format_version: ClassVar[int] = 1

    def __init__(self, *, metric: str = "ip") -> None:
        self.metric = check_metric(metric)
        self.dim: int | None = None

    # ----------------------------------------------------------------- public API
    @property
    def fitted(self) -> bool:
        """Whether the codec has parameters (after ``fit`` or loading)."""
        return self.dim is not None

    def fit(self: C, x: Any, *, seed: int = 0) -> C:
        """Learn the codec's parameters from a sample ``x`` of shape ``[n, dim]``."""
        xv = self._prep(as_vectors(x, name="training vectors"))
        check_int(seed, "seed", lo=0)
        self._check_fit_input(xv)
        self._fit(xv, seed)
        self.dim = int(xv.shape[1])
        return self

    def encode(self, x: Any) -> npt.NDArray[np.uint8]:
        """Encode vectors ``[n, dim]`` into codes ``uint8[n, code_bytes]``."""
        self._require_fitted()
        xv = self._prep(as_vectors(x, dim=self.dim))
        return self._encode(xv)

    def decode(self, codes: Any) -> npt.NDArray[np.float32]:
        """Decode codes ``uint8[n, code_bytes]`` into float32 vectors ``[n, dim]``."""
        self._require_fitted()
        return self._decode(as_codes(codes, code_bytes=self.code_bytes))

    def prepare(self, query: Any) -> Any:
        """Build per-query state (lookup tables, rotated/quantised queries) for ``score``.

        ``query`` is one vector ``[dim]`` or a batch ``[nq, dim]``.
        """
        self._require_fitted()
        return self._prepare(self._prep(as_query(query, dim=self.dim)))

    def score(self, prepared: Any, codes: Any) -> npt.NDArray[np.float32]:
        """Estimate the metric between prepared queries and codes: ``float32[nq, n]``.

        Higher is better: inner product, cosine, or negative squared L2 distance.
        """
        self._require_fitted()
        return self._score(prepared, as_codes(codes, code_bytes=self.code_bytes))

    def search(
        self, query: Any, codes: Any, k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Exhaustive top-``k`` over ``codes``: ``(scores[nq, k], row_ids[nq, k])``, best first."""
        from lance_spiral.kernels.topk import topk

        check_int(k, "k", lo=1)
        return topk(self.score(self.prepare(query), codes), k)

    @property
    @abstractmethod
    def code_bytes(self) -> int:
        """Bytes per encoded vector (exact)."""

    @property
    def param_bytes(self) -> int:
        """Bytes of fitted parameters as stored (arrays only; the JSON header is small)."""
        self._require_fitted()
        _, arrays = self._get_state()
        return int(sum(np.asarray(a).nbytes for a in arrays.values()))

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable), ``metric`` included."""

    @property
    def spec(self) -> str:
        """The codec spec string, e.g. ``"sq:bits=8,metric=ip"``."""
        kv = ",".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}:{kv}" if kv else self.name

    def error_bound(self, prepared: Any, codes: Any) -> npt.NDArray[np.float32] | None:
        """Per-code bound on ``|score - true score|`` (``None`` when the codec gives none)."""
        return None

    # ----------------------------------------------------------- serialisation
    def to_bytes(self) -> bytes:
        """Serialise the fitted codec: container v2, a JSON header + raw arrays + CRC32 of all.

        See :mod:`lance_spiral.codecs.container` for the layout.
        """
        self._require_fitted()
        state, arrays = self._get_state()
        header = {"codec": self.name, "format_version": self.format_version,
                  "params": self.params(), "dim": self.dim, "state": state}
        try:
            return pack_container(header, arrays)
        except CorruptDataError as exc:
            raise InvalidParameterError(str(exc)) from exc

    @classmethod
    def from_bytes(cls: type[C], data: bytes) -> C:
        """Load a codec written by :meth:`to_bytes` (of this class)."""
        header, arrays = read_container(data)
        if header["codec"] != cls.name:
            raise CorruptDataError(
                f"serialised codec is {header['codec']!r}, not {cls.name!r}"
            )
        return cls._from_parts(header, arrays)

    @classmethod
    def _from_parts(cls: type[C], header: dict[str, Any], arrays: dict[str, np.ndarray]) -> C:
        version = header.get("format_version")
        if not isinstance(version, int) or version > cls.format_version or version < 1:
            raise FormatVersionError(
                f"codec {cls.name!r} data has format version {version!r}; this build reads"
                f" versions 1..{cls.format_version} (upgrade lance-spiral?)"
            )
        dim = header.get("dim")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise CorruptDataError(f"corrupt {cls.name!r} codec header: dim is {dim!r}")
        try:
            codec = cls(**header["params"])
            codec._set_state(header.get("state", {}), arrays, version)
            codec.dim = dim
        except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                OverflowError) as exc:
            if isinstance(exc, (FormatVersionError, CorruptDataError)):
                raise
            raise CorruptDataError(f"corrupt {cls.name!r} codec parameters: {exc}") from exc
        implied = codec._param_dim()
        if implied is not None and implied != dim:
            raise CorruptDataError(
                f"{cls.name!r} codec header says dim={dim} but its parameters are for {implied}")
        return codec

    # ------------------------------------------------------------------ hooks
    def _param_dim(self) -> int | None:
        """The dimension the loaded parameters are for (``None``: they do not fix one)."""
        return None

    def _check_fit_input(self, x: npt.NDArray[np.float32]) -> None:
        """Raise if ``x`` is too small to fit this codec (override as needed)."""
        return None

    @abstractmethod
    def _fit(self, x: npt.NDArray[np.float32], seed: int) -> None: ...

    @abstractmethod
    def _encode(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]: ...

    @abstractmethod
    def _decode(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...

    @abstractmethod
    def _prepare(self, q: npt.NDArray[np.float32]) -> Any: ...

    @abstractmethod
    def _score(self, prepared: Any, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...

    @abstractmethod
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return ``(json_state, arrays)`` that fully describe the fitted codec."""

    @abstractmethod
    def _set_state(
        self, state: dict[str, Any], arrays: dict[str, np.ndarray], version: int
    ) -> None:
        """Restore from ``_get_state`` output; raise ``CorruptDataError`` on inconsistency."""

    # ---------------------------------------------------------------- helpers
    def _prep(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return normalize_rows(x) if self.metric == "cosine" else x

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"codec {self.name!r} is not fitted: call fit() first")

    def __repr__(self) -> str:
        state = f"dim={self.dim}" if self.fitted else "unfitted"
        return f"<{type(self).__name__} {self.spec} {state}>"
