"""Residual quantisation (``rq``): coarse IVF centroids + product-quantised residual stages.

A vector ``x`` is coded as the id of its nearest coarse centroid ``c`` (1, 2 or 4 bytes,
depending on ``nlist``) followed by ``quantization_levels`` product-quantiser codes, stage ``s``
coding what stages ``< s`` left over: ``x ~= c + r_1 + ... + r_L``. With ``metric="l2"`` the
squared norm of the reconstruction is appended as float16 (2 bytes).

Scoring never decodes: for a query ``q`` the table ``q . C`` over all centroids (one BLAS call)
and the per-stage ADC tables give ``q . x^ = q.c[id] + sum_s LUT_s``; for ``l2``,
``-|q - x^|^2 = 2 q.x^ - |x^|^2 - |q|^2`` with the stored norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import check_int
from lance_spiral.codecs.base import Codec
from lance_spiral.codecs.product import ProductQuantizer
from lance_spiral.codecs.registry import register_codec
from lance_spiral.errors import CorruptDataError, InvalidParameterError
from lance_spiral.kernels import pq as kpq
from lance_spiral.kernels.kmeans import assign, kmeans

__all__ = ["RQPrepared", "ResidualQuantizer", "id_bytes_for"]


def id_bytes_for(n_ids: int) -> int:
    """Bytes needed to store an id in ``[0, n_ids)``: 1, 2 or 4."""
    return 1 if n_ids <= 256 else 2 if n_ids <= 65536 else 4


@dataclass
class RQPrepared:
    """Per-query state: centroid scores and the concatenated stage tables."""

    centroid_scores: npt.NDArray[np.float32]
    """``float32[nq, nlist]``: ``q . c``."""
    tables: npt.NDArray[np.float32]
    """``float32[nq, stage_bytes, 256]`` ADC tables of every stage, in code order."""
    qnorm: npt.NDArray[np.float32]
    """``float32[nq]``: ``|q|^2`` (used by ``l2``)."""


class _ResidualBase(Codec):
    """Shared machinery: anchors/coarse centroids + a stack of PQ residual stages."""

    def __init__(self, *, metric: str, n_anchors: int, m_list: list[int], bits: int,
                 n_iter: int = 20, max_train: int = 65536) -> None:
        super().__init__(metric=metric)
        self._n_anchors = n_anchors
        self._m_list = m_list
        self._bits = bits
        self.n_iter = n_iter
        self.max_train = max_train
        self.centroids: npt.NDArray[np.float32] | None = None
        self.stages: list[ProductQuantizer] = []
        self._param_dtype: np.dtype[Any] = np.dtype(np.float32)
        """dtype the parameters are stored in; float16 rounds them at fit (see _round)."""

    def _round(self, a: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """``a`` as float32 holding exactly the values stored in ``_param_dtype``.

        Fitting continues with the rounded values (later stages code what the stored anchors
        and codebooks leave), so a loaded codec encodes exactly as the fitted one.
        """
        return np.ascontiguousarray(a.astype(self._param_dtype).astype(np.float32))

    # -------------------------------------------------------------- layout
    @property
    def id_bytes(self) -> int:
        """Bytes of the anchor / coarse-centroid id at the start of every code."""
        return id_bytes_for(self._n_anchors)

    def _stage_bytes(self) -> list[int]:
        return [m if self._bits == 8 else (m + 1) // 2 for m in self._m_list]

    @property
    def code_bytes(self) -> int:
        """Id bytes + stage code bytes (+ 2 bytes of norm for ``l2``)."""
        return self.id_bytes + sum(self._stage_bytes()) + (2 if self.metric == "l2" else 0)

    def _check_fit_input(self, x: npt.NDArray[np.float32]) -> None:
        ksub = 1 << self._bits
        need = max(self._n_anchors, ksub)
        if x.shape[0] < need:
            raise InvalidParameterError(
                f"too few training vectors: {self.name} needs at least {need}"
                f" ({self._n_anchors} centroids, {ksub} codewords per stage), got {x.shape[0]}"
            )
        for m in self._m_list:
            if m > x.shape[1]:
                raise InvalidParameterError(
                    f"{self.name} stage with m={m} sub-vectors exceeds the dimension {x.shape[1]}"
                )

    # -------------------------------------------------------------- fit/encode
    def _train_centroids(self, x: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
        k = self._n_anchors
        return kmeans(x, k, n_iter=self.n_iter, seed=seed,
                      max_train=min(self.max_train, max(64 * k, 4096)))

    def _fit(self, x: npt.NDArray[np.float32], seed: int) -> None:
        self.centroids = self._round(self._train_centroids(x, seed))
        self._n_anchors = int(self.centroids.shape[0])
        labels = self._assign(x)
        r = x - self.centroids[labels]
        self.stages = []
        for s, m in enumerate(self._m_list):
            pq = ProductQuantizer(m=m, bits=self._bits, metric="ip", n_iter=self.n_iter,
                                  max_train=self.max_train)
            pq.fit(r, seed=seed + s)
            assert pq.codebooks is not None
            pq.codebooks = self._round(pq.codebooks)
            if s + 1 < len(self._m_list):
                r = r - pq.decode(pq.encode(r))
            self.stages.append(pq)

    def _assign(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        assert self.centroids is not None
        return assign(x, self.centroids)[0]

    def _encode(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        assert self.centroids is not None
        labels = self._assign(x)
        out = np.empty((x.shape[0], self.code_bytes), dtype=np.uint8)
        ib = self.id_bytes
        dt = {1: "<u1", 2: "<u2", 4: "<u4"}[ib]
        out[:, :ib] = labels.astype(dt).view(np.uint8).reshape(-1, ib)
        recon = self.centroids[labels]
        r = x - recon
        pos = ib
        for pq in self.stages:
            codes = pq.encode(r)
            out[:, pos : pos + pq.code_bytes] = codes
            pos += pq.code_bytes
            dec = pq.decode(codes)
            r -= dec
            recon += dec
        if self.metric == "l2":
            norms = np.einsum("ij,ij->i", recon, recon).astype("<f2")
            out[:, pos : pos + 2] = norms.view(np.uint8).reshape(-1, 2)
        return out

    def ids(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """Anchor / coarse-centroid id of every code: ``int64[n]``."""
        ib = self.id_bytes
        dt = {1: "<u1", 2: "<u2", 4: "<u4"}[ib]
        raw = np.ascontiguousarray(codes[:, :ib]).view(dt).reshape(-1).astype(np.int64)
        if raw.size and int(raw.max()) >= self._n_anchors:
            raise CorruptDataError(
                f"code holds centroid id {int(raw.max())} but the codec has {self._n_anchors}"
            )
        return raw

    def _decode(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        assert self.centroids is not None
        y = self.centroids[self.ids(codes)].copy()
        pos = self.id_bytes
        for pq in self.stages:
            y += pq.decode(np.ascontiguousarray(codes[:, pos : pos + pq.code_bytes]))
            pos += pq.code_bytes
        return y

    # -------------------------------------------------------------- scoring
    def _prepare(self, q: npt.NDArray[np.float32]) -> RQPrepared:
        assert self.centroids is not None
        cs = np.ascontiguousarray(q @ self.centroids.T, dtype=np.float32)
        tabs = [pq._prepare(q).tables for pq in self.stages]
        if self._bits == 8:
            tabs = [np.pad(t, ((0, 0), (0, 0), (0, 256 - t.shape[2]))) for t in tabs]
        tables = (np.concatenate(tabs, axis=1) if tabs
                  else np.zeros((q.shape[0], 0, 256), dtype=np.float32))
        return RQPrepared(cs, np.ascontiguousarray(tables, dtype=np.float32),
                          np.einsum("ij,ij->i", q, q).astype(np.float32))

    def _score(self, prepared: Any, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if not isinstance(prepared, RQPrepared):
            raise InvalidParameterError("prepared must come from this codec's prepare()")
        ib = self.id_bytes
        sb = sum(self._stage_bytes())
        ids = self.ids(codes)
        s = kpq.adc_scan(prepared.tables, np.ascontiguousarray(codes[:, ib : ib + sb]))
        s += prepared.centroid_scores[:, ids]
        if self.metric == "l2":
            nrm = np.ascontiguousarray(codes[:, ib + sb : ib + sb + 2]).view("<f2")
            s = 2.0 * s - nrm.reshape(1, -1).astype(np.float32) - prepared.qnorm[:, None]
        return s.astype(np.float32, copy=False)

    # -------------------------------------------------------------- state
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self.centroids is not None
        arrays: dict[str, np.ndarray] = {"centroids": self.centroids.astype(self._param_dtype)}
        for s, pq in enumerate(self.stages):
            assert pq.codebooks is not None
            arrays[f"stage{s}_codebooks"] = pq.codebooks.astype(self._param_dtype)
        return {"n_anchors": self._n_anchors}, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray],
                   version: int) -> None:
        if arrays["centroids"].dtype not in (np.float16, np.float32):
            raise CorruptDataError(f"centroids are stored as {arrays['centroids'].dtype}")
        self._param_dtype = arrays["centroids"].dtype  # saved again as they were stored
        c = arrays["centroids"].astype(np.float32)
        if c.ndim != 2:
            raise CorruptDataError(f"centroids have shape {c.shape}, expected 2-D")
        self.centroids = np.ascontiguousarray(c)
        self._n_anchors = int(c.shape[0])
        if id_bytes_for(self._n_anchors) != id_bytes_for(int(state.get("n_anchors", -1))):
            raise CorruptDataError("centroid count does not match the stored code layout")
        self.stages = []
        dim = int(c.shape[1])
        for s, m in enumerate(self._m_list):
            pq = ProductQuantizer(m=m, bits=self._bits, metric="ip")
            pq._set_state({}, {"codebooks": arrays[f"stage{s}_codebooks"]}, version)
            assert pq.codebooks is not None
            if pq.codebooks.shape[2] != -(-dim // m):
                raise CorruptDataError(
                    f"{self.name} stage {s} codebooks do not fit {dim}-d centroids")
            pq.dim = dim
            self.stages.append(pq)

    def _param_dim(self) -> int | None:
        return None if self.centroids is None else int(self.centroids.shape[1])


@register_codec
class ResidualQuantizer(_ResidualBase):
    """IVF coarse quantiser + ``quantization_levels`` product-quantised residual stages.

    Args:
        nlist: Coarse centroids (1..2**32; ids take 1, 2 or 4 bytes).
        m: Sub-vectors per residual stage.
        bits: 8 or 4 bits per sub-vector.
        quantization_levels: Number of residual PQ stages (>= 1).
        metric: ``ip``, ``cosine`` or ``l2``.
        n_iter: k-means iterations.
        max_train: Cap on training vectors.
    """

    name = "rq"

    def __init__(self, nlist: int = 256, m: int = 48, bits: int = 8,
                 quantization_levels: int = 1, *, metric: str = "ip", n_iter: int = 20,
                 max_train: int = 65536) -> None:
        nlist = check_int(nlist, "nlist", lo=1, hi=2**32)
        m = check_int(m, "m", lo=1, hi=4096)
        bits = check_int(bits, "bits")
        if bits not in (4, 8):
            raise InvalidParameterError(f"rq bits must be 8 or 4, got {bits}")
        levels = check_int(quantization_levels, "quantization_levels", lo=1, hi=16)
        super().__init__(metric=metric, n_anchors=nlist, m_list=[m] * levels, bits=bits,
                         n_iter=check_int(n_iter, "n_iter", lo=1),
                         max_train=check_int(max_train, "max_train", lo=16))
        self.nlist, self.m, self.bits, self.quantization_levels = nlist, m, bits, levels

    def params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"nlist": self.nlist, "m": self.m, "bits": self.bits,
                "quantization_levels": self.quantization_levels, "metric": self.metric}
