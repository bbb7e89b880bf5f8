"""The spiral-delta codec (``spiral``), done honestly: centroid anchors + residual stages.

The seed idea: order vectors along a spiral so near vectors sit together, keep an anchor every
``anchor_stride`` vectors, and store quantised deltas from the anchor. Measured on real
embeddings the literal spiral order puts no near vectors together (deltas as large as in random
order), so here:

* **anchors** are k-means centroids, about one per ``anchor_stride`` training vectors (at most
  65,535); each code starts with its anchor id as ``uint16`` (counted in ``code_bytes``);
* **ordering** is a real locality order: anchors are numbered along an Archimedean spiral
  through the centroids in their principal (PCA) plane, and vectors within a cluster follow the
  same spiral in that plane around their centroid (:meth:`SpiralCodec.order` gives the storage
  permutation). ``ordering="spiral_literal"`` keeps the seed's scheme: anchors are the means of
  consecutive runs of ``anchor_stride`` vectors along the literal spiral of the data, and a
  vector's anchor is the run its spiral position falls into;
* **deltas** (vector minus anchor) are residual-quantised: ``quantization_levels`` product
  quantisers of ``n_subspaces`` sub-vectors x ``n_bits`` bits, each coding what the previous
  left over; with ``n_subspaces == dim`` a stage is a per-dimension 256-level (k-means) scalar
  quantiser;
* ``compression_ratio``: when given, the codec keeps ``(1 - compression_ratio) * 4 * dim`` bytes
  per vector *all-in*: ``code_bytes + param_bytes / n`` for the ``n`` rows it is fitted on. Its
  parameters are stored as float16 and the stages (up to two, 8- or 4-bit) are sized at fit
  time for that ``n`` (:func:`lance_spiral.codecs.budget.plan_layout`); when no layout fits,
  ``fit`` raises an InvalidParameterError naming the smallest ``n`` that can hold the target.
  ``profile=NAME`` takes the parameters of a named profile (:mod:`.profiles`).

Every byte counts: ``code_bytes`` holds the anchor id and stage codes; ``param_bytes`` the
anchors, codebooks and spiral plane.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors, check_int
from lance_spiral.codecs.budget import PARAM_ITEMSIZE, min_rows, plan_layout, stages_for_budget
from lance_spiral.codecs.registry import register_codec
from lance_spiral.codecs.residual import _ResidualBase
from lance_spiral.codecs.spiral_geometry import nn_chain, pca_plane, prev_ratio, spiral_param
from lance_spiral.errors import CorruptDataError, InvalidParameterError
from lance_spiral.kernels.kmeans import assign, kmeans

__all__ = ["SpiralCodec", "ordering_report", "spiral_param", "stages_for_budget"]
# stages_for_budget lives in .budget; re-exported here for callers of the earlier layout.

_ORDERINGS = ("spiral", "spiral_literal")
_DEFAULTS: dict[str, Any] = {
    "quantization_levels": 1, "n_subspaces": 96, "n_bits": 8, "anchor_stride": 256,
    "spiral_constant": 0.5, "compression_ratio": None, "ordering": "spiral",
}
_MAX_ANCHORS = 65535


@register_codec
class SpiralCodec(_ResidualBase):
    """Spiral-delta codec: centroid anchors (uint16 ids) + residual-quantised deltas.

    Args:
        quantization_levels: Residual stages (default 1).
        n_subspaces: Sub-vectors per stage (default 96).
        n_bits: Bits per sub-vector: 8 or 4 (default 8).
        anchor_stride: About one anchor per this many training vectors (default 256).
        spiral_constant: Spiral arm spacing relative to the median radius (default 0.5).
        compression_ratio: Target share of float32 bytes saved, e.g. 0.7 or 0.9; overrides
            ``n_subspaces``/``quantization_levels`` (8-bit stages sized to fit).
        profile: Name of a profile in :data:`lance_spiral.codecs.profiles.PROFILES` giving
            defaults for the parameters above (explicit parameters win).
        ordering: ``"spiral"`` (centroid anchors, locality order) or ``"spiral_literal"``.
        metric: ``ip``, ``cosine`` or ``l2``.
        n_iter: k-means iterations.
        max_train: Cap on training vectors.
    """

    name = "spiral"

    def __init__(self, quantization_levels: int | None = None, n_subspaces: int | None = None,
                 n_bits: int | None = None, anchor_stride: int | None = None,
                 spiral_constant: float | None = None, compression_ratio: float | None = None,
                 profile: str | None = None, ordering: str | None = None, *,
                 metric: str = "ip", n_iter: int = 20, max_train: int = 65536) -> None:
        given = {"quantization_levels": quantization_levels, "n_subspaces": n_subspaces,
                 "n_bits": n_bits, "anchor_stride": anchor_stride,
                 "spiral_constant": spiral_constant, "compression_ratio": compression_ratio,
                 "ordering": ordering}
        p = dict(_DEFAULTS)
        from_profile: dict[str, Any] = {}
        if profile is not None:
            from lance_spiral.codecs.profiles import profile_params

            from_profile = profile_params(profile)
            p.update(from_profile)
        explicit_bits = n_bits is not None or "n_bits" in from_profile
        p.update({k: v for k, v in given.items() if v is not None})
        self.profile = profile
        self.quantization_levels = check_int(p["quantization_levels"], "quantization_levels",
                                             lo=1, hi=16)
        self.n_subspaces = check_int(p["n_subspaces"], "n_subspaces", lo=1, hi=65536)
        self.n_bits = check_int(p["n_bits"], "n_bits")
        if self.n_bits not in (4, 8):
            raise InvalidParameterError(f"spiral n_bits must be 8 or 4, got {self.n_bits}")
        self.anchor_stride = check_int(p["anchor_stride"], "anchor_stride", lo=1)
        sc = p["spiral_constant"]
        if isinstance(sc, bool) or not isinstance(sc, (int, float)) or not sc > 0:
            raise InvalidParameterError(f"spiral_constant must be a positive number, got {sc!r}")
        self.spiral_constant = float(sc)
        cr = p["compression_ratio"]
        if cr is not None and (isinstance(cr, bool) or not isinstance(cr, (int, float))
                               or not 0.0 <= float(cr) < 1.0):
            raise InvalidParameterError(f"compression_ratio must be in [0, 1), got {cr!r}")
        self.compression_ratio = None if cr is None else float(cr)
        if p["ordering"] not in _ORDERINGS:
            raise InvalidParameterError(
                f"ordering must be one of {_ORDERINGS}, got {p['ordering']!r}"
            )
        self.ordering = str(p["ordering"])
        m_list = [self.n_subspaces] * self.quantization_levels
        super().__init__(metric=metric, n_anchors=_MAX_ANCHORS, m_list=m_list,
                         bits=self.n_bits, n_iter=check_int(n_iter, "n_iter", lo=1),
                         max_train=check_int(max_train, "max_train", lo=16))
        self._auto_bits = cr is not None and not explicit_bits
        if cr is not None:
            self._param_dtype = np.dtype(np.float16)
        self._resolved = cr is None
        self.mean = np.zeros(0, dtype=np.float32)
        self.plane = np.zeros((2, 0), dtype=np.float32)
        self.boundaries = np.zeros(0, dtype=np.float64)

    # ----------------------------------------------------------------- layout
    @property
    def id_bytes(self) -> int:
        """Anchor ids are ``uint16``."""
        return 2

    @property
    def code_bytes(self) -> int:
        """Anchor id + stage codes (+ 2 norm bytes for ``l2``); needs ``dim`` for a target."""
        if not self._resolved:
            self._require_fitted()
        return super().code_bytes

    @property
    def stage_subspaces(self) -> list[int]:
        """Sub-vector count of every residual stage (resolved from the target after fit)."""
        return list(self._m_list)

    def params(self) -> dict[str, Any]:
        """Constructor parameters (profile name included when one was used).

        With a ``compression_ratio`` the stage layout is chosen at fit time, so the stage
        parameters are left out (``n_bits`` stays when it was given).
        """
        out: dict[str, Any] = {}
        if self.compression_ratio is None:
            out.update(quantization_levels=self.quantization_levels,
                       n_subspaces=self.n_subspaces)
        if self.compression_ratio is None or not self._auto_bits:
            out["n_bits"] = self.n_bits
        out.update(anchor_stride=self.anchor_stride, spiral_constant=self.spiral_constant)
        if self.compression_ratio is not None:
            out["compression_ratio"] = self.compression_ratio
        if self.ordering != "spiral":
            out["ordering"] = self.ordering
        if self.profile is not None:
            out["profile"] = self.profile
        out["metric"] = self.metric
        return out

    @property
    def limit_bytes(self) -> float | None:
        """Bytes per vector the target allows, all-in (None without a target; needs ``dim``)."""
        if self.compression_ratio is None or self.dim is None:
            return None
        return (1.0 - self.compression_ratio) * 4 * self.dim

    def _fixed_params(self, dim: int, n: int) -> int:
        """Parameter bytes besides the codebooks at ``n`` rows: anchors, plane, boundaries."""
        k = self._anchor_count(n)
        plane = 3 * dim * self._param_dtype.itemsize
        bounds = 8 * (k - 1) if self.ordering == "spiral_literal" else 0
        return k * dim * self._param_dtype.itemsize + plane + bounds

    def _resolve(self, dim: int, n: int) -> None:
        """Size the stages for the target at ``n`` rows (raises when none fits)."""
        if self.compression_ratio is None:
            return
        limit = (1.0 - self.compression_ratio) * 4 * dim
        fixed_code = self.id_bytes + (2 if self.metric == "l2" else 0)
        bits = None if self._auto_bits else self.n_bits
        layout = plan_layout(dim, n, limit, fixed_code=fixed_code,
                             fixed_params=self._fixed_params(dim, n), bits=bits,
                             itemsize=PARAM_ITEMSIZE)
        if layout is None:
            need = min_rows(dim, limit, fixed_code, lambda k: self._fixed_params(dim, k),
                            bits=bits)
            where = (f"it can from about {need:,} vectors" if need is not None
                     else "no collection size can")
            raise InvalidParameterError(
                f"spiral:compression_ratio={self.compression_ratio} allows {limit:.1f} bytes per"
                f" vector all-in (codes + anchors + codebooks over the rows fitted on); fitted"
                f" on {n:,} vectors of dimension {dim} nothing fits: {where}")
        self._m_list = list(layout.stages)
        self._bits = layout.bits
        self._resolved = True

    def _check_fit_input(self, x: npt.NDArray[np.float32]) -> None:
        self._n_anchors = self._anchor_count(x.shape[0])
        self._resolve(x.shape[1], x.shape[0])
        super()._check_fit_input(x)

    def _anchor_count(self, n: int) -> int:
        """About one anchor per ``anchor_stride`` rows (at least one, at most 65,535)."""
        return int(min(_MAX_ANCHORS, n, max(1, round(n / self.anchor_stride))))

    # ----------------------------------------------------------------- anchors
    def _train_centroids(self, x: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
        k = self._anchor_count(x.shape[0])
        if self.ordering == "spiral_literal":
            self.mean, self.plane = map(self._round, pca_plane(x))
            t = spiral_param(((x - self.mean) @ self.plane.T).astype(np.float64),
                             self.spiral_constant)
            order = np.argsort(t, kind="stable")
            runs = np.array_split(order, k)
            cents = self._round(np.stack([x[r].mean(axis=0) for r in runs]))
            self.boundaries = np.array([t[r[0]] for r in runs[1:]], dtype=np.float64)
            return cents
        cents = super()._train_centroids(x, seed) if k > 1 else x.mean(axis=0, keepdims=True)
        cents = self._round(cents)
        self.mean, self.plane = map(self._round, pca_plane(cents))
        t = spiral_param(((cents - self.mean) @ self.plane.T).astype(np.float64),
                         self.spiral_constant)
        return np.ascontiguousarray(cents[np.argsort(t, kind="stable")], dtype=np.float32)

    def _spiral_t(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return spiral_param(((x - self.mean) @ self.plane.T).astype(np.float64),
                            self.spiral_constant)

    def _assign(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        if self.ordering == "spiral_literal":
            return np.searchsorted(self.boundaries, self._spiral_t(x), side="right").astype(
                np.int64)
        return super()._assign(x)

    def order(self, x: Any) -> npt.NDArray[np.int64]:
        """Storage order: a permutation of the rows of ``x`` that walks the spiral.

        ``spiral``: by anchor id (anchors follow the spiral through the centroids), then along
        the spiral around the centroid within a cluster. ``spiral_literal``: along the data's
        spiral.

        Args:
            x: ``[n, dim]`` vectors.

        Returns:
            ``int64[n]`` row indices in storage order.
        """
        self._require_fitted()
        assert self.centroids is not None
        xv = self._prep(as_vectors(x, dim=self.dim))
        if self.ordering == "spiral_literal":
            return np.argsort(self._spiral_t(xv), kind="stable").astype(np.int64)
        ids = self._assign(xv)
        local = spiral_param(((xv - self.centroids[ids]) @ self.plane.T).astype(np.float64),
                             self.spiral_constant)
        return np.lexsort((local, ids)).astype(np.int64)

    # ----------------------------------------------------------------- state
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super()._get_state()
        state["stages"] = list(self._m_list)
        state["bits"] = self._bits
        arrays["spiral_mean"] = self.mean.astype(self._param_dtype)
        arrays["spiral_plane"] = self.plane.astype(self._param_dtype)
        if self.ordering == "spiral_literal":
            arrays["spiral_boundaries"] = self.boundaries
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray],
                   version: int) -> None:
        stages = state.get("stages")
        if not isinstance(stages, list) or not all(isinstance(m, int) for m in stages):
            raise CorruptDataError("spiral codec state lacks its stage layout")
        self._m_list = stages
        bits = state.get("bits", self._bits)  # absent in files written before it was stored
        if bits not in (4, 8):
            raise CorruptDataError(f"spiral codec state has stage bits {bits!r}")
        self._bits = int(bits)
        self._resolved = True
        super()._set_state(state, arrays, version)
        self.mean = arrays["spiral_mean"].astype(np.float32)
        self.plane = arrays["spiral_plane"].astype(np.float32)
        if self.ordering == "spiral_literal":
            self.boundaries = arrays["spiral_boundaries"].astype(np.float64)


def ordering_report(x: Any, *, anchor_stride: int = 256, spiral_constant: float = 0.5,
                    sample: int = 20000, nn_sample: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean delta norm / vector norm that each ordering gives (lower = more locality).

    ``*_prev``: distance to the previous vector in that order; ``*_anchor``: distance to the
    vector's anchor (its centroid, or its literal-spiral run mean).

    Args:
        x: ``[n, dim]`` vectors (a random sample of ``sample`` rows is used).
        anchor_stride: Vectors per anchor (centroids / spiral runs).
        spiral_constant: Spiral arm spacing (see :func:`spiral_param`).
        sample: Rows used for every ordering but the nearest-neighbour chain.
        nn_sample: Rows for the greedy nearest-neighbour chain (quadratic cost).
        seed: Random seed.

    Returns:
        Dict with ``random_prev``, ``spiral_literal_prev``, ``spiral_literal_anchor``,
        ``cluster_prev``, ``cluster_anchor``, ``nn_chain_prev`` and ``nn_chain_random_prev``
        (random order on the same rows as the chain) plus ``n`` and ``n_anchors``.
    """
    xv = as_vectors(x, name="x")
    anchor_stride = check_int(anchor_stride, "anchor_stride", lo=1)
    sample = check_int(sample, "sample", lo=2)
    nn_sample = check_int(nn_sample, "nn_sample", lo=2)
    rng = np.random.default_rng(seed)
    if xv.shape[0] > sample:
        xv = np.ascontiguousarray(xv[np.sort(rng.choice(xv.shape[0], sample, replace=False))])
    n = xv.shape[0]
    if n < 2:
        raise InvalidParameterError("ordering_report needs at least 2 vectors")
    norms = np.linalg.norm(xv, axis=1).astype(np.float32)
    out: dict[str, float] = {"n": float(n)}
    out["random_prev"] = prev_ratio(xv, rng.permutation(n).astype(np.int64), norms)
    lit = SpiralCodec(anchor_stride=anchor_stride, spiral_constant=spiral_constant,
                      ordering="spiral_literal", n_subspaces=1, n_bits=4)
    lit._n_anchors = lit._anchor_count(n)
    lit_c = lit._train_centroids(xv, seed)
    lit_order = np.argsort(lit._spiral_t(xv), kind="stable").astype(np.int64)
    out["spiral_literal_prev"] = prev_ratio(xv, lit_order, norms)
    lit_ids = lit._assign(xv)
    out["spiral_literal_anchor"] = float(np.mean(
        np.linalg.norm(xv - lit_c[lit_ids], axis=1) / np.maximum(norms, 1e-12)))
    k = max(1, min(n, round(n / anchor_stride)))
    cents = kmeans(xv, k, seed=seed, n_iter=10)
    ids, sq = assign(xv, cents)
    mean, plane = pca_plane(cents)
    ct = spiral_param(((cents - mean) @ plane.T).astype(np.float64), spiral_constant)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(ct, kind="stable")] = np.arange(k)
    local = spiral_param(((xv - cents[ids]) @ plane.T).astype(np.float64), spiral_constant)
    out["cluster_prev"] = prev_ratio(xv, np.lexsort((local, rank[ids])).astype(np.int64), norms)
    out["cluster_anchor"] = float(np.mean(np.sqrt(sq) / np.maximum(norms, 1e-12)))
    out["n_anchors"] = float(k)
    m = min(n, nn_sample)
    sub = xv[:m]
    out["nn_chain_prev"] = prev_ratio(sub, nn_chain(sub), norms[:m])
    out["nn_chain_random_prev"] = prev_ratio(sub, rng.permutation(m).astype(np.int64), norms[:m])
    return out
