"""Spiral-delta codec ("spiral"): byte budget from compression_ratio, every byte counted,
locality ordering, literal spiral option, profiles, serialisation, floors on real data."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.codecs import SpiralCodec, load_codec, make_codec, ordering_report
from lance_spiral.codecs.metrics import recall_at
from lance_spiral.codecs.profiles import PROFILES, profile_spec
from lance_spiral.codecs.spiral import spiral_param, stages_for_budget
from lance_spiral.errors import CorruptDataError, InvalidParameterError, NotFittedError
from tests.support.codecs import exact_scores


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def _all_in(c: SpiralCodec, n: int) -> float:
    return c.code_bytes + c.param_bytes / n


@pytest.mark.parametrize(("ratio", "dim", "n"), [
    (0.7, 384, 20000), (0.9, 384, 20000), (0.7, 384, 2000), (0.9, 384, 6292),
    (0.9, 1536, 50000), (0.8, 17, 3000), (0.7, 384, 117659), (0.9, 384, 300)])
def test_the_planned_layout_fits_the_target_all_in(ratio: float, dim: int, n: int) -> None:
    """The layout planned for n rows keeps codes + parameters/n within (1 - r) * 4 * dim."""
    c = SpiralCodec(compression_ratio=ratio)
    c._n_anchors = c._anchor_count(n)
    c._resolve(dim, n)
    k = c._anchor_count(n)
    params = (k + 3) * dim * 2 + sum(
        m * (1 << c._bits) * -(-dim // m) * 2 for m in c.stage_subspaces)
    limit = (1 - ratio) * 4 * dim
    assert c.code_bytes + params / n <= limit
    assert c.code_bytes + params / n >= 0.85 * limit  # and uses most of it


def test_a_target_too_tight_for_the_rows_names_the_smallest_size(
    scifact_corpus_emb: np.ndarray,
) -> None:
    x = scifact_corpus_emb
    with pytest.raises(InvalidParameterError, match=r"it can from about [\d,]+ vectors") as err:
        SpiralCodec(compression_ratio=0.9, n_iter=2).fit(x[:60])
    need = int(str(err.value).split("from about ")[1].split()[0].replace(",", ""))
    assert 60 < need < 1000
    c = SpiralCodec(compression_ratio=0.9, n_iter=2).fit(x[:need])  # the size it named works
    assert _all_in(c, need) <= 0.1 * 4 * 384


def test_stages_for_budget() -> None:
    assert stages_for_budget(384, 151) == [128, 23]
    assert stages_for_budget(384, 458) == [384, 64]
    with pytest.raises(InvalidParameterError):
        stages_for_budget(384, 0)


def test_code_bytes_needs_dim_for_a_target() -> None:
    with pytest.raises(NotFittedError):
        _ = SpiralCodec(compression_ratio=0.9).code_bytes
    assert SpiralCodec(n_subspaces=32, quantization_levels=2).code_bytes == 2 + 64


def test_targets_hold_all_in_on_real_slices(scifact_corpus_emb: np.ndarray) -> None:
    """Every byte counted (codes + anchors + codebooks over the rows fitted on)."""
    x = scifact_corpus_emb[:1500]
    mid = make_codec("spiral:compression_ratio=0.9", n_iter=5).fit(x)
    assert _all_in(mid, len(x)) <= 153.6
    # 1,500 rows pay more per vector for the parameters: a little below larger collections
    assert _cos(x, mid.decode(mid.encode(x))) >= 0.975
    again = load_codec(mid.to_bytes())  # float16 parameters, stage bits and layout survive
    np.testing.assert_array_equal(again.encode(x[:100]), mid.encode(x[:100]))
    assert again.param_bytes == mid.param_bytes and again.spec == mid.spec
    hi = make_codec("spiral:compression_ratio=0.7,metric=l2", n_iter=5).fit(x)
    assert _all_in(hi, len(x)) <= 460.8
    assert _cos(x, hi.decode(hi.encode(x))) >= 0.999


@pytest.mark.slow
def test_seed_targets_on_real_vectors(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb
    hi = make_codec("spiral:compression_ratio=0.7", n_iter=8).fit(x)
    assert _all_in(hi, len(x)) <= 460.8
    assert _cos(x, hi.decode(hi.encode(x))) >= 0.999
    mid = make_codec("spiral:compression_ratio=0.9", n_iter=8).fit(x)
    assert _all_in(mid, len(x)) <= 153.6
    assert _cos(x, mid.decode(mid.encode(x))) >= 0.98


def test_score_on_codes_equals_decode_then_score(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:1500]
    for metric in ("ip", "l2"):
        c = SpiralCodec(n_subspaces=24, n_bits=4, anchor_stride=100, metric=metric,
                        n_iter=5).fit(x)
        codes = c.encode(x)
        q = x[:4]
        ref = exact_scores(q, c.decode(codes), metric)
        np.testing.assert_allclose(c.score(c.prepare(q), codes), ref, atol=3e-3, rtol=1e-3)


def test_anchor_ids_and_locality_order(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:2000]
    c = SpiralCodec(n_subspaces=16, n_bits=4, anchor_stride=100, n_iter=5).fit(x)
    assert c.centroids is not None and c.centroids.shape[0] == 20
    codes = c.encode(x)
    ids = codes[:, :2].copy().view("<u2").ravel()
    assert ids.max() < 20
    order = c.order(x)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(x)))
    # Rows in storage order are grouped by anchor id.
    assert (np.diff(ids[order].astype(np.int64)) >= 0).all()


def test_literal_spiral_is_worse_than_centroid_anchors(scifact_corpus_emb: np.ndarray) -> None:
    x = scifact_corpus_emb[:1500]
    errs = {}
    for ordering in ("spiral", "spiral_literal"):
        c = SpiralCodec(n_subspaces=16, n_bits=4, anchor_stride=75, ordering=ordering,
                        n_iter=5).fit(x)
        errs[ordering] = float(((x - c.decode(c.encode(x))) ** 2).sum(1).mean())
        d = load_codec(c.to_bytes())
        np.testing.assert_array_equal(d.encode(x[:50]), c.encode(x[:50]))
    assert errs["spiral"] < errs["spiral_literal"]


def test_ordering_report_measures_locality(scifact_corpus_emb: np.ndarray) -> None:
    r = ordering_report(scifact_corpus_emb, anchor_stride=100, sample=3000, nn_sample=500)
    assert set(r) >= {"random_prev", "spiral_literal_prev", "cluster_prev", "cluster_anchor",
                      "nn_chain_prev", "spiral_literal_anchor"}
    # Centroid anchors are much closer than the previous vector in random order.
    assert r["cluster_anchor"] < 0.9 * r["random_prev"]
    assert r["nn_chain_prev"] < r["nn_chain_random_prev"]


def test_spiral_param_walks_outward() -> None:
    t = np.linspace(0.1, 6 * np.pi, 200)
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    med = np.median(np.hypot(pts[:, 0], pts[:, 1]))
    # Arm spacing = 2 pi in radius: spiral_constant = 2 pi * 2 pi / (2 pi med)... pick matching b.
    param = spiral_param(pts, spiral_constant=2 * np.pi / med)
    assert (np.diff(param) > 0).all()


def test_profiles_build_and_serialise(scifact_corpus_emb: np.ndarray) -> None:
    assert set(PROFILES) == {"high_quality", "balanced", "high_performance",
                             "memory_optimized", "research"}
    c = make_codec("spiral:profile=memory_optimized", n_iter=4).fit(scifact_corpus_emb[:1000])
    assert c.params()["profile"] == "memory_optimized" and c.code_bytes == 2 + 32
    d = load_codec(c.to_bytes())
    assert d.spec == c.spec
    assert make_codec(profile_spec("balanced")).compression_ratio == 0.9
    # Explicit parameters win over the profile's.
    assert SpiralCodec(profile="research", n_subspaces=48).n_subspaces == 48
    with pytest.raises(InvalidParameterError, match="unknown spiral profile"):
        make_codec("spiral:profile=fastest")


def test_params_bytes_count_everything(scifact_corpus_emb: np.ndarray) -> None:
    c = SpiralCodec(n_subspaces=8, n_bits=4, anchor_stride=500, n_iter=3).fit(
        scifact_corpus_emb[:1000])
    assert c.centroids is not None
    expected = (c.centroids.nbytes + sum(s.codebooks.nbytes for s in c.stages  # type: ignore
                                         ) + c.mean.nbytes + c.plane.nbytes)
    assert c.param_bytes == expected


def test_bad_input() -> None:
    with pytest.raises(InvalidParameterError):
        SpiralCodec(n_bits=6)
    with pytest.raises(InvalidParameterError):
        SpiralCodec(compression_ratio=1.2)
    with pytest.raises(InvalidParameterError):
        SpiralCodec(ordering="zigzag")
    with pytest.raises(InvalidParameterError):
        SpiralCodec(spiral_constant=0)
    x = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
    with pytest.raises(InvalidParameterError, match="too few training vectors"):
        SpiralCodec(n_subspaces=4, n_bits=4).fit(x)
    with pytest.raises(InvalidParameterError, match="bytes per vector"):
        SpiralCodec(compression_ratio=0.99).fit(
            np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32))
    bad = SpiralCodec(n_subspaces=4, n_bits=4, anchor_stride=50)
    bad.fit(np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32))
    codes = bad.encode(np.ones((2, 8), np.float32))
    codes[:, :2] = 255
    with pytest.raises(CorruptDataError):
        bad.decode(codes)


def test_real_data_recall_floor(scifact_corpus_emb: np.ndarray, scifact_query_emb: np.ndarray,
                                scifact_gt: dict[str, np.ndarray]) -> None:
    c = make_codec("spiral:n_subspaces=48", n_iter=8).fit(scifact_corpus_emb)
    assert c.code_bytes == 50
    _, idx = c.search(scifact_query_emb, c.encode(scifact_corpus_emb), 10)
    assert recall_at(idx, scifact_gt["ip"]) >= 0.65
