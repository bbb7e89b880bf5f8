"""k-means in numba: k-means++ seeding, sampled Lloyd iterations, empty-cluster repair.

Used by every codebook-learning codec (PQ sub-quantisers, IVF coarse centroids, spiral
anchors). Deterministic for a given ``seed`` (and thread count: BLAS sums may differ in the
last bit between machines).

Assignment picks the cheapest exact route: for wide vectors the squared distances come from one
BLAS product per chunk (``|x|^2 - 2 x.c + |c|^2``) followed by a parallel arg-min in numba; for
narrow vectors (PQ sub-spaces of 2-16 dims) a parallel numba loop computes them directly.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors, check_int
from lance_spiral.errors import DimensionError, InvalidParameterError

__all__ = ["assign", "kmeans", "kmeans_plus_plus"]

_BLAS_MIN_DIM = 24
_CHUNK = 8192


def _assign_direct_body(
    x: np.ndarray, ct: np.ndarray, labels: np.ndarray, dist: np.ndarray
) -> None:
    # ct is the transposed centroid matrix [d, k]: the inner loop runs over centroids, which
    # LLVM vectorises (narrow d would otherwise leave SIMD lanes idle).
    n, d = x.shape
    k = ct.shape[1]
    n_chunks = (n + 255) // 256
    for ch in nb.prange(n_chunks):
        s = np.empty(k, dtype=np.float32)
        for i in range(ch * 256, min(n, ch * 256 + 256)):
            for j in range(k):
                s[j] = 0.0
            for t in range(d):
                xv = x[i, t]
                for j in range(k):
                    diff = xv - ct[t, j]
                    s[j] += diff * diff
            best = s[0]
            bj = 0
            for j in range(1, k):
                if s[j] < best:
                    best = s[j]
                    bj = j
            labels[i] = bj
            dist[i] = best


_assign_serial = nb.njit(cache=True, nogil=True)(_assign_direct_body)
_assign_parallel = nb.njit(cache=True, nogil=True, parallel=True)(_assign_direct_body)


@nb.njit(cache=True, nogil=True, parallel=True)
def _argmin_from_dots(
    dots: np.ndarray, xnorm: np.ndarray, cnorm: np.ndarray, labels: np.ndarray,
    dist: np.ndarray, offset: int,
) -> None:
    n, k = dots.shape
    for i in nb.prange(n):
        best = np.inf
        bj = 0
        for j in range(k):
            s = cnorm[j] - 2.0 * dots[i, j]
            if s < best:
                best = s
                bj = j
        v = best + xnorm[i]
        labels[offset + i] = bj
        dist[offset + i] = v if v > 0.0 else 0.0


@nb.njit(cache=True, nogil=True)
def cluster_sums(
    x: np.ndarray, labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster float64 sums ``[k, d]`` and member counts ``[k]`` of ``x`` under ``labels``."""
    n, d = x.shape
    sums = np.zeros((k, d), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    for i in range(n):
        j = labels[i]
        counts[j] += 1
        for t in range(d):
            sums[j, t] += x[i, t]
    return sums, counts


def _kmpp_body(x: np.ndarray, k: int, first: int, us: np.ndarray, fallback: np.ndarray,
               centers: np.ndarray) -> None:
    n, d = x.shape
    mind = np.empty(n, dtype=np.float64)
    for i in range(n):
        mind[i] = np.inf
    cur = first
    for j in range(k):
        centers[j] = x[cur]
        for i in nb.prange(n):
            s = 0.0
            for t in range(d):
                diff = x[i, t] - centers[j, t]
                s += diff * diff
            if s < mind[i]:
                mind[i] = s
        if j + 1 == k:
            break
        total = 0.0
        for i in range(n):
            total += mind[i]
        cur = -1
        if total > 0.0:
            target = us[j + 1] * total
            acc = 0.0
            for i in range(n):
                acc += mind[i]
                if acc >= target and mind[i] > 0.0:
                    cur = i
                    break
            if cur < 0:
                for i in range(n - 1, -1, -1):
                    if mind[i] > 0.0:
                        cur = i
                        break
        if cur < 0:  # every point coincides with a centre already
            cur = fallback[j + 1]


# One compiled copy per regime: threads pay off only when a distance pass is long.
_kmpp_serial = nb.njit(cache=True, nogil=True)(_kmpp_body)
_kmpp_parallel = nb.njit(cache=True, nogil=True, parallel=True)(_kmpp_body)


def kmeans_plus_plus(
    x: npt.NDArray[np.float32], k: int, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """k-means++ seeding (D^2 sampling) of ``k`` centres from the rows of ``x``.

    When ``x`` has fewer than ``k`` distinct rows, the remaining centres are copies of random
    rows (they are repaired by the Lloyd iterations' empty-cluster step).

    Args:
        x: ``float32[n, d]`` C-contiguous sample, ``n >= k``.
        k: Number of centres.
        rng: Source of randomness (deterministic for a seeded generator).

    Returns:
        ``float32[k, d]`` initial centres.
    """
    n = x.shape[0]
    centers = np.empty((k, x.shape[1]), dtype=np.float32)
    first = int(rng.integers(n))
    us = rng.random(k)
    fallback = rng.integers(0, n, size=k)
    kernel = _kmpp_parallel if n * x.shape[1] >= 1 << 18 else _kmpp_serial
    kernel(x, k, first, us, fallback, centers)
    return centers


def _assign_raw(
    x: npt.NDArray[np.float32], c: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    n, d = x.shape
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float32)
    if d < _BLAS_MIN_DIM:
        # Small problems run serially: a parallel region costs more than it saves there.
        kernel = _assign_parallel if n * d * c.shape[0] >= 1 << 23 else _assign_serial
        kernel(x, np.ascontiguousarray(c.T), labels, dist)
        return labels, dist
    cnorm = np.einsum("ij,ij->i", c, c).astype(np.float32)
    for s in range(0, n, _CHUNK):
        xs = x[s : s + _CHUNK]
        xnorm = np.einsum("ij,ij->i", xs, xs).astype(np.float32)
        dots = np.ascontiguousarray(xs @ c.T)
        _argmin_from_dots(dots, xnorm, cnorm, labels, dist, s)
    return labels, dist


def assign(
    x: Any, centroids: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Nearest centroid of every row of ``x`` (squared Euclidean distance), in parallel.

    Args:
        x: ``float32[n, d]`` vectors.
        centroids: ``float32[k, d]`` centroids.

    Returns:
        ``(labels int64[n], sqdist float32[n])``.

    Raises:
        DimensionError: When the widths of ``x`` and ``centroids`` differ.
        InvalidInputError: For empty, non-finite or non-float input.
    """
    c = as_vectors(centroids, name="centroids")
    xv = as_vectors(x, name="x", allow_empty=True)
    if xv.shape[1] != c.shape[1]:
        raise DimensionError(
            f"x has dimension {xv.shape[1]} but centroids have dimension {c.shape[1]}"
        )
    return _assign_raw(xv, c)


def _normalize(c: npt.NDArray[np.float32]) -> None:
    norms = np.linalg.norm(c, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    c /= norms


def _repair_empty(
    x: npt.NDArray[np.float32], c: npt.NDArray[np.float32], counts: npt.NDArray[np.int64],
    dist: npt.NDArray[np.float32], rng: np.random.Generator,
) -> None:
    """Move every empty centre onto a far-away point (largest current distance)."""
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return
    order = np.argsort(-dist, kind="stable")
    # Several empties must not land on the same point; jitter ties to split clusters apart.
    take = order[: empty.size]
    c[empty] = x[take]
    scale = float(np.sqrt(np.mean(dist))) if dist.size else 0.0
    c[empty] += (rng.standard_normal(c[empty].shape) * 1e-4 * (scale + 1e-12)).astype(np.float32)
    dist[take] = 0.0


def kmeans(
    x: Any,
    k: int,
    *,
    n_iter: int = 20,
    seed: int = 0,
    max_train: int | None = 65536,
    spherical: bool = False,
    init: Any = None,
) -> npt.NDArray[np.float32]:
    """Learn ``k`` centroids of ``x`` by Lloyd's algorithm.

    k-means++ seeding runs on a sample of at most ``max(8k, 4096)`` rows; the Lloyd iterations on
    at most ``max_train`` rows (a seeded random sample). Clusters that become empty are moved to
    the points farthest from their centres. Iterations stop early when no label changes.

    Args:
        x: ``float32[n, d]`` training vectors (float16/64 are upcast/downcast).
        k: Number of centroids, ``1 <= k <= n``.
        n_iter: Lloyd iterations (>= 0; 0 keeps the k-means++ seeds).
        seed: Random seed (same seed, same data -> same centroids).
        max_train: Cap on training rows (``None`` = use all).
        spherical: Renormalise centroids to unit length after each update (cosine k-means).
        init: Optional ``float32[k, d]`` starting centroids (warm start; skips k-means++).

    Returns:
        ``float32[k, d]`` centroids.

    Raises:
        InvalidParameterError: ``k`` out of range (``k > n`` included), bad ``n_iter``/``seed``/
            ``max_train``.
        InvalidInputError: Empty, non-finite or non-float ``x``.
    """
    xv = as_vectors(x, name="training vectors")
    n = xv.shape[0]
    k = check_int(k, "k", lo=1)
    if k > n:
        raise InvalidParameterError(
            f"k={k} centroids need at least {k} training vectors, got {n}"
        )
    n_iter = check_int(n_iter, "n_iter", lo=0)
    seed = check_int(seed, "seed", lo=0)
    if max_train is not None:
        max_train = check_int(max_train, "max_train", lo=1)
        max_train = max(max_train, k)
    if not isinstance(spherical, bool):
        raise InvalidParameterError(f"spherical must be a bool, got {spherical!r}")
    rng = np.random.default_rng(seed)
    if max_train is not None and n > max_train:
        xt = np.ascontiguousarray(xv[np.sort(rng.choice(n, max_train, replace=False))])
    else:
        xt = xv
    nt = xt.shape[0]
    if init is not None:
        c = as_vectors(init, dim=xv.shape[1], name="init").copy()
        if c.shape[0] != k:
            raise DimensionError(f"init has {c.shape[0]} centroids, expected k={k}")
    else:
        n_init = min(nt, max(8 * k, 4096))
        xi = xt if n_init == nt else np.ascontiguousarray(
            xt[rng.choice(nt, n_init, replace=False)]
        )
        c = kmeans_plus_plus(xi, k, rng)
    if spherical:
        _normalize(c)
    prev: npt.NDArray[np.int64] | None = None
    for _ in range(n_iter):
        labels, dist = _assign_raw(xt, c)
        if prev is not None and np.array_equal(labels, prev):
            break
        prev = labels
        sums, counts = cluster_sums(xt, labels, k)
        nz = counts > 0
        c[nz] = (sums[nz] / counts[nz, None]).astype(np.float32)
        _repair_empty(xt, c, counts, dist, rng)
        if spherical:
            _normalize(c)
    return np.ascontiguousarray(c, dtype=np.float32)
