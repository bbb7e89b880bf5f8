from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lance_spiral.errors import InvalidParameterError  # noqa: E402
from lance_spiral.train.student import (  # noqa: E402
    StudentConfig,
    build_folded,
    build_student,
    count_parameters,
)


@pytest.fixture(scope="module")
def entry_emb(teacher_dir) -> np.ndarray:
    from lance_spiral.train.mining import static_entry_embeddings

    texts = ["", *[f"w{i}" for i in range(1, 2000)]]
    return static_entry_embeddings(["pad"] + ["word"] * 1999, texts, teacher_dir)


def perturbed(model) -> None:
    torch.manual_seed(1)
    with torch.no_grad():
        model.query.normal_()
        model.bias.weight.normal_()


def test_permutation_invariance_and_unit_norm(entry_emb: np.ndarray) -> None:
    model = build_student(
        StudentConfig(hidden=64, phi_hidden=64, rho_hidden=64, heads=4), entry_emb
    ).eval()
    perturbed(model)
    ids = torch.tensor([[5, 17, 300, 42, 9], [7, 7, 8, 1999, 3]])
    out = model(ids)
    shuffled = model(ids[:, torch.tensor([3, 0, 4, 2, 1])])
    assert torch.allclose(out, shuffled, atol=1e-5)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)


def test_padding_is_masked(entry_emb: np.ndarray) -> None:
    model = build_student(
        StudentConfig(hidden=64, phi_hidden=64, rho_hidden=64, heads=2), entry_emb
    ).eval()
    perturbed(model)
    ids = torch.tensor([[5, 17, 300]])
    padded = torch.tensor([[5, 17, 300, 0, 0, 0, 0]])
    assert torch.allclose(model(ids), model(padded), atol=1e-5)
    assert not torch.allclose(model(ids), model(torch.tensor([[5, 17, 301]])), atol=1e-3)


def test_default_size_is_1_to_5m_params(entry_emb: np.ndarray) -> None:
    model = build_student(StudentConfig(), entry_emb)
    n = count_parameters(model)
    assert 1_000_000 <= n <= 5_000_000, n
    assert not model.embed.weight.requires_grad
    tuned = build_student(StudentConfig(train_embeddings=True), entry_emb)
    assert count_parameters(tuned) == n + entry_emb.size


def test_folded_matches_student(entry_emb: np.ndarray) -> None:
    model = build_student(
        StudentConfig(hidden=64, phi_hidden=64, rho_hidden=64, heads=2), entry_emb
    ).eval()
    perturbed(model)
    ids = torch.tensor([[5, 17, 300, 0], [1, 2, 3, 4]])
    folded32 = build_folded(model, table_dtype="float32")
    folded16 = build_folded(model)
    with torch.no_grad():
        ref = model(ids)
        assert torch.allclose(folded32(ids), ref, atol=1e-5)
        assert (folded16(ids) * ref).sum(1).min() > 0.999


def test_bad_config() -> None:
    with pytest.raises(InvalidParameterError):
        StudentConfig(hidden=10, heads=4)
    with pytest.raises(InvalidParameterError):
        StudentConfig(dropout=1.5)
    with pytest.raises(InvalidParameterError, match="context_heads"):
        StudentConfig(context_heads=-1)
    with pytest.raises(InvalidParameterError, match="context_key_dim=10"):
        StudentConfig(context_heads=4, context_key_dim=10)
    with pytest.raises(InvalidParameterError, match="context_value_dim must be >= 0"):
        StudentConfig(context_heads=4, context_value_dim=-1)
    # Values = the features (width 0): the heads must divide the feature width.
    with pytest.raises(InvalidParameterError, match="context_value_dim=512"):
        StudentConfig(context_heads=3, context_key_dim=12)


CONTEXT = StudentConfig(
    hidden=64,
    phi_hidden=64,
    rho_hidden=64,
    heads=4,
    context_heads=2,
    context_key_dim=16,
    context_value_dim=32,
)
FEATURE_VALUES = StudentConfig(
    hidden=64, phi_hidden=64, rho_hidden=64, heads=4, context_heads=2, context_key_dim=16
)


def test_context_pass_starts_as_the_plain_student_and_learns(entry_emb: np.ndarray) -> None:
    torch.manual_seed(0)
    model = build_student(CONTEXT, entry_emb)
    ids = torch.tensor([[5, 17, 300, 0], [7, 8, 9, 10], [11, 0, 0, 0]])
    with torch.no_grad():
        plain = model.head(model.pool(*model.token_features(ids), ids > 0))
    out = model(ids)
    # The context pass enters through a zero-initialised projection: at first, the plain student.
    assert torch.allclose(out, plain, atol=1e-6)
    (1 - out.sum()).backward()
    assert model.context_mix.weight.grad.abs().sum() > 0
    assert count_parameters(model) > count_parameters(
        build_student(StudentConfig(hidden=64, phi_hidden=64, rho_hidden=64, heads=4), entry_emb)
    )


@pytest.mark.parametrize("config", [CONTEXT, FEATURE_VALUES], ids=["projected", "features"])
def test_context_pass_is_order_free_masked_and_folds(
    entry_emb: np.ndarray, config: StudentConfig
) -> None:
    torch.manual_seed(0)
    model = build_student(config, entry_emb).eval()
    perturbed(model)
    with torch.no_grad():
        model.context_query[1].weight.normal_()
        model.context_bias.weight.normal_()
        model.context_mix.weight.normal_()
    ids = torch.tensor([[5, 17, 300, 42, 9], [7, 7, 8, 1999, 3]])
    with torch.no_grad():
        out = model(ids)
        plain = model.head(model.pool(*model.token_features(ids), ids > 0))
        assert (out * plain).sum(1).max() < 0.99  # the pass matters here
        assert torch.allclose(model(ids[:, torch.tensor([3, 0, 4, 2, 1])]), out, atol=1e-5)
        padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.int64)], 1)
        assert torch.allclose(model(padded), out, atol=1e-5)
        tables = model.fold()
        assert tables["context_keys"].shape == (len(entry_emb), 16)
        if config.context_value_dim:
            assert tables["context_values"].shape == (len(entry_emb), 32)
        else:  # the features are the values: no second table
            assert "context_values" not in tables
        assert tables["context_bias"].shape == (len(entry_emb), 2)
        assert torch.allclose(build_folded(model, table_dtype="float32")(ids), out, atol=1e-5)
