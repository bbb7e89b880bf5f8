"""Candidate-stage kernels on real vectors: alive masks and the asymmetric sign score."""

from __future__ import annotations

import numpy as np
import pytest

from lance_spiral.codecs import normalize_rows
from lance_spiral.kernels.hamming import (
    hamming_candidates,
    hamming_candidates_ranges,
    hamming_candidates_rows,
    pack_signs,
    sign_dot_rows,
    sign_lut,
)


@pytest.fixture(scope="module")
def coded(scifact_corpus_emb):
    x = normalize_rows(scifact_corpus_emb[:3000])
    centre = x.mean(axis=0).astype(np.float32)
    return x, centre, pack_signs(x, centre)


def _hamming(bits8, qb8):
    return np.unpackbits(bits8 ^ qb8[None, :], axis=1).sum(axis=1)


def test_alive_mask_never_returns_dead_rows(coded, scifact_query_emb):
    x, centre, bits8 = coded
    bits = bits8.view(np.uint64)
    q = normalize_rows(scifact_query_emb[:1])
    qb8 = pack_signs(q, centre)[0]
    qb = qb8.view(np.uint64)
    alive = np.ones(len(x), dtype=bool)
    alive[::3] = False
    got = hamming_candidates(bits, qb, 200, alive)
    assert len(got) == 200 and alive[got].all()
    d = _hamming(bits8, qb8).astype(float)
    d[~alive] = np.inf
    worst = d[got].max()
    assert (d < worst).sum() <= 200 <= (d <= worst).sum()
    # more than the live rows: every live row, none of the dead
    every = hamming_candidates(bits, qb, len(x), alive)
    assert np.array_equal(np.sort(every), np.flatnonzero(alive))
    rows = np.arange(0, 1000, dtype=np.int64)
    sub = hamming_candidates_rows(bits, rows, qb, 50, alive)
    assert len(sub) == 50 and alive[sub].all() and sub.max() < 1000
    assert np.array_equal(np.sort(hamming_candidates_rows(bits, rows, qb, 5000, alive)),
                          rows[alive[rows]])


def test_sign_scores_match_numpy_and_rank_better_than_hamming(coded, scifact_query_emb):
    x, centre, bits8 = coded
    bits = bits8.view(np.uint64)
    qs = normalize_rows(scifact_query_emb[:20])
    rows = np.arange(len(x), dtype=np.int64)
    signs = np.where(np.unpackbits(bits8, axis=1, bitorder="little")[:, : x.shape[1]], 1.0, -1.0)
    gain_sign, gain_ham = 0.0, 0.0
    for q in qs:
        s = sign_dot_rows(bits, rows, sign_lut(q, bits.shape[1]))
        assert np.allclose(2 * s - q.sum(), signs @ q, atol=1e-3)
        truth = set(np.argsort(-(x @ q))[:10].tolist())
        gain_sign += len(truth & set(np.argsort(-s)[:100].tolist()))
        qb8 = pack_signs(q[None, :], centre)[0]
        gain_ham += len(truth & set(np.argsort(_hamming(bits8, qb8), kind="stable")[:100]
                                    .tolist()))
    assert gain_sign > gain_ham


def test_ranges_over_a_permuted_layout(coded, scifact_query_emb):
    # Rows stored in another order (slot s holds position order[s] below ``indexed``): ranges
    # of slots are scanned, the alive mask is read by position, slots come back.
    x, centre, bits8 = coded
    qb8 = pack_signs(normalize_rows(scifact_query_emb[1:2]), centre)[0]
    rng = np.random.default_rng(0)
    indexed = 2500
    order = np.concatenate([rng.permutation(indexed), np.arange(indexed, len(x))])
    slots_bits = np.ascontiguousarray(bits8[order]).view(np.uint64)
    alive = rng.random(len(x)) > 0.2
    starts = np.array([0, 700, 2400, 2990], dtype=np.int64)
    lengths = np.array([300, 900, 300, 10], dtype=np.int64)
    scanned = np.concatenate([np.arange(a, a + m) for a, m in zip(starts, lengths, strict=True)])
    d = _hamming(bits8[order[scanned]], qb8).astype(float)
    d[~alive[order[scanned]]] = np.inf
    for k in (1, 37, 400, 5000):
        got = hamming_candidates_ranges(slots_bits, starts, lengths, qb8.view(np.uint64), k,
                                        alive, order[:indexed].astype(np.int32), indexed)
        live = int(np.isfinite(d).sum())
        assert len(got) == min(k, live) and len(np.unique(got)) == len(got)
        assert np.isin(got, scanned).all() and alive[order[got]].all()
        dg = _hamming(bits8[order[got]], qb8)
        worst = dg.max()
        assert (d < worst).sum() <= len(got) <= (d <= worst).sum()
    assert len(hamming_candidates_ranges(slots_bits, starts[:0], lengths[:0],
                                         qb8.view(np.uint64), 5)) == 0

