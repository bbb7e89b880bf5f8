from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.errors import (
    DimensionError,
    EmptyInputError,
    InvalidParameterError,
    NonFiniteError,
)
from lance_spiral.kernels import assign, kmeans


def _blobs(n_per: int, centers: np.ndarray, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = [c + spread * rng.standard_normal((n_per, centers.shape[1])) for c in centers]
    return np.concatenate(pts).astype(np.float32)


@pytest.mark.parametrize("d", [3, 64])
def test_assign_matches_brute_force(d: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((700, d)).astype(np.float32)
    c = rng.standard_normal((37, d)).astype(np.float32)
    labels, dist = assign(x, c)
    full = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    assert labels.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_allclose(dist, full.min(1), rtol=1e-4, atol=1e-4)
    picked = full[np.arange(len(x)), labels]
    np.testing.assert_allclose(picked, full.min(1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("d", [2, 40])
def test_recovers_separated_blobs(d: int) -> None:
    rng = np.random.default_rng(2)
    centers = rng.standard_normal((8, d)) * 20
    x = _blobs(200, centers, 0.1, seed=3)
    c = kmeans(x, 8, seed=0)
    # Each true centre is within noise of one learned centroid, one-to-one.
    d2 = ((centers[:, None, :] - c[None]) ** 2).sum(-1)
    assert sorted(d2.argmin(1).tolist()) == list(range(8))
    assert float(np.sqrt(d2.min(1)).max()) < 0.1 * np.sqrt(d)


def test_deterministic_with_seed(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:3000]
    a = kmeans(x, 32, seed=7, n_iter=5)
    b = kmeans(x, 32, seed=7, n_iter=5)
    c = kmeans(x, 32, seed=8, n_iter=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_lloyd_beats_seeding_on_real_data(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb
    seeds_only = kmeans(x, 64, n_iter=0, seed=0)
    trained = kmeans(x, 64, n_iter=15, seed=0)
    e0 = assign(x, seeds_only)[1].mean()
    e1 = assign(x, trained)[1].mean()
    assert e1 < 0.95 * e0
    # Real-data floor: 64 centroids explain a good share of unit-norm MiniLM vectors.
    assert e1 < 0.75
    labels, _ = assign(x, trained)
    assert np.bincount(labels, minlength=64).min() > 0


def test_empty_clusters_are_repaired() -> None:
    # 4 distinct points (repeated) plus a few outliers: some clusters start on duplicates.
    base = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    x = np.concatenate([np.repeat(base, 50, axis=0),
                        np.array([[5, 5], [20, 20], [-10, 3]], dtype=np.float32)])
    c = kmeans(x, 7, seed=0)
    labels, _ = assign(x, c)
    assert len(np.unique(labels)) == 7


def test_identical_points_do_not_crash() -> None:
    x = np.ones((20, 5), dtype=np.float32)
    c = kmeans(x, 4, seed=0)
    assert c.shape == (4, 5) and np.isfinite(c).all()


def test_spherical_centroids_are_unit(scifact_corpus_emb: np.ndarray) -> None:
    c = kmeans(scifact_corpus_emb[:2000], 16, spherical=True, n_iter=5)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-5)


def test_max_train_samples(scifact_corpus_emb: np.ndarray) -> None:
    c = kmeans(scifact_corpus_emb, 16, max_train=500, n_iter=5)
    assert c.shape == (16, 384)
    full = kmeans(scifact_corpus_emb, 16, max_train=None, n_iter=5)
    # Sampled training stays close in quality to full training.
    x = scifact_corpus_emb
    assert assign(x, c)[1].mean() < 1.05 * assign(x, full)[1].mean()


def test_bad_input() -> None:
    x = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(InvalidParameterError, match="k=6"):
        kmeans(x, 6)
    with pytest.raises(InvalidParameterError):
        kmeans(x, 0)
    with pytest.raises(InvalidParameterError):
        kmeans(x, 2, n_iter=-1)
    with pytest.raises(InvalidParameterError):
        kmeans(x, 2, max_train=0)
    with pytest.raises(EmptyInputError):
        kmeans(np.zeros((0, 3), dtype=np.float32), 1)
    bad = x.copy()
    bad[1, 1] = np.nan
    with pytest.raises(NonFiniteError):
        kmeans(bad, 2)
    with pytest.raises(DimensionError):
        assign(x, np.zeros((2, 4), dtype=np.float32))


def test_warm_start_init(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:2000]
    c0 = kmeans(x, 8, n_iter=3, seed=0)
    c1 = kmeans(x, 8, n_iter=3, seed=0, init=c0)
    assert assign(x, c1)[1].mean() <= assign(x, c0)[1].mean() + 1e-6
    with pytest.raises(DimensionError):
        kmeans(x, 8, init=c0[:4])
