from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lance_spiral.embed.approximator.tokenizer import Tokenizer  # noqa: E402
from lance_spiral.errors import InvalidInputError, InvalidParameterError  # noqa: E402
from lance_spiral.train.distill import TrainConfig, pack_ids, train_student  # noqa: E402
from lance_spiral.train.gradients import TableGrad, clip_grad_norm  # noqa: E402
from lance_spiral.train.mining import static_entry_embeddings  # noqa: E402
from lance_spiral.train.student import StudentConfig, build_student  # noqa: E402

SMALL = StudentConfig(hidden=128, phi_hidden=256, rho_hidden=256, heads=2)


@pytest.fixture(scope="module")
def setup(small_vocab, teacher_dir):
    kinds, texts = small_vocab
    return Tokenizer(kinds, texts, max_tokens=128), static_entry_embeddings(
        kinds, texts, teacher_dir
    )


def mean_cos(model, tok: Tokenizer, texts: list[str], targets: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(tok.encode_batch(texts))).numpy()
    return float((pred * targets).sum(1).mean())


def test_tiny_distillation_learns(setup, train_pairs, heldout_pairs, tmp_path: Path) -> None:
    tok, emb = setup
    texts, targets = train_pairs
    cfg = TrainConfig(
        epochs=20, batch_size=64, lr=3e-3, patience=3, seed=0, val_frac=0.05, threads=1
    )
    result = train_student(
        tok, emb, texts, targets, model_config=SMALL, config=cfg, out_dir=tmp_path
    )
    torch.manual_seed(0)
    untrained = build_student(SMALL, emb).eval()
    h_texts, h_targets = heldout_pairs
    trained_cos = mean_cos(result.model, tok, h_texts, h_targets)
    untrained_cos = mean_cos(untrained, tok, h_texts, h_targets)
    print(f"held-out cosine: trained {trained_cos:.3f}, untrained {untrained_cos:.3f}")
    assert trained_cos > untrained_cos + 0.2
    assert trained_cos > 0.4
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("val_cosine" in r for r in recs)
    assert (tmp_path / "best.safetensors").is_file() and (tmp_path / "curve.png").is_file()
    assert result.best_val_cosine == pytest.approx(
        max(r["val_cosine"] for r in recs if "val_cosine" in r)
    )


def test_seeded_runs_repeat(setup, train_pairs) -> None:
    tok, emb = setup
    texts, targets = train_pairs
    cfg = TrainConfig(epochs=1, max_steps=3, batch_size=32, seed=3, threads=1, grad_accum=2)
    a = train_student(tok, emb, texts, targets, model_config=SMALL, config=cfg, progress=False)
    b = train_student(tok, emb, texts, targets, model_config=SMALL, config=cfg, progress=False)
    assert a.steps == 3
    assert a.best_val_cosine == pytest.approx(b.best_val_cosine, abs=1e-6)


def test_warm_start_continues_from_given_weights(setup, train_pairs) -> None:
    tok, emb = setup
    texts, targets = train_pairs
    cfg = TrainConfig(epochs=1, max_steps=6, batch_size=32, lr=3e-3, seed=3, threads=1)
    first = train_student(tok, emb, texts, targets, model_config=SMALL, config=cfg, progress=False)
    state = {k: v.clone() for k, v in first.model.state_dict().items()}
    # One step at a negligible learning rate: a warm start keeps the first run's quality (same
    # seed, same validation rows); a fresh start stays at an untrained network's.
    still = TrainConfig(epochs=1, max_steps=1, batch_size=32, lr=1e-12, seed=3, threads=1)
    warm = train_student(tok, emb, texts, targets, model_config=SMALL, config=still,
                         progress=False, init_state=state)
    cold = train_student(tok, emb, texts, targets, model_config=SMALL, config=still,
                         progress=False)
    assert warm.best_val_cosine == pytest.approx(first.best_val_cosine, abs=1e-4)
    assert cold.best_val_cosine < first.best_val_cosine - 0.05
    other = StudentConfig(hidden=64, phi_hidden=256, rho_hidden=256, heads=2)
    with pytest.raises(InvalidInputError, match="init_state"):
        train_student(tok, emb, texts, targets, model_config=other, config=still,
                      progress=False, init_state=state)


def test_trained_entry_table_moves_by_its_own_lr(setup, train_pairs) -> None:
    tok, emb = setup
    texts, targets = train_pairs
    mcfg = StudentConfig(hidden=128, phi_hidden=256, rho_hidden=256, heads=2, train_embeddings=True)
    used = np.unique(pack_ids(tok, texts)[0])
    moved = {}
    for scale in (0.01, 1.0):
        cfg = TrainConfig(
            epochs=1, max_steps=4, batch_size=32, seed=1, threads=1, embed_lr_scale=scale
        )
        res = train_student(tok, emb, texts, targets, model_config=mcfg, config=cfg, progress=False)
        table = res.model.embed.weight.detach().numpy()
        unused = np.setdiff1d(np.arange(len(emb)), used)
        # Entries no training text touches keep the teacher's vectors (no weight decay).
        np.testing.assert_array_equal(table[unused], np.asarray(emb, np.float32)[unused])
        moved[scale] = float(np.abs(table[used] - emb[used]).mean())
    assert 0 < moved[0.01] < moved[1.0] / 10
    with pytest.raises(InvalidParameterError, match="embed_lr_scale"):
        TrainConfig(embed_lr_scale=0)


def test_trained_table_with_gradient_accumulation(setup, train_pairs) -> None:
    # Sparse table gradients of several micro-batches add up before the one step.
    tok, emb = setup
    texts, targets = train_pairs
    mcfg = StudentConfig(hidden=128, phi_hidden=256, rho_hidden=256, heads=2, train_embeddings=True)
    cfg = TrainConfig(epochs=1, max_steps=2, batch_size=16, grad_accum=3, seed=4, threads=1)
    res = train_student(tok, emb, texts, targets, model_config=mcfg, config=cfg, progress=False)
    assert res.steps == 2 and not res.model.embed.sparse
    table = res.model.embed.weight.detach().numpy()
    assert np.isfinite(table).all() and not np.array_equal(table, np.asarray(emb, np.float32))


def test_table_grad_steps_like_dense_adamw() -> None:
    # Sparse backward + the persistent dense buffer + fused AdamW == a dense embedding + AdamW,
    # including rows a step does not touch (they keep moving by their momentum).
    batches = [
        torch.tensor([[1, 2, 2, 0]]),
        torch.tensor([[3, 4, 0, 0]]),
        torch.tensor([[1, 5, 0, 0]]),
    ]
    runs = []
    for fast in (True, False):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(7, 3, padding_idx=0, sparse=fast)
        lin = torch.nn.Linear(3, 2)
        opt = torch.optim.AdamW(
            [{"params": [lin.weight, lin.bias]}, {"params": [emb.weight], "weight_decay": 0.0}],
            lr=0.05,
            fused=fast,
        )
        table = TableGrad(emb.weight) if fast else None
        rows_after_first = []
        for ids in batches:
            (lin(emb(ids)).sum(1) - 1).pow(2).sum().backward()
            if table is not None:
                table.densify()
            opt.step()
            if table is not None:
                table.clear()
                assert not table.buffer.any()
            opt.zero_grad(set_to_none=True)
            rows_after_first.append(emb.weight[2].detach().clone())
        runs.append([t.detach().clone() for t in (emb.weight, lin.weight, lin.bias)])
        # Row 2 is touched only by the first batch and still moves at steps 2 and 3.
        assert not torch.equal(rows_after_first[0], emb.weight[2].detach())
        assert emb.weight[0].abs().sum() == 0  # padding row
    for a, b in zip(*runs, strict=True):
        torch.testing.assert_close(a, b)


def testclip_grad_norm_counts_sparse_gradients() -> None:
    torch.manual_seed(0)
    ids = torch.tensor([[1, 3, 3], [2, 0, 5]])
    grads = []
    for sparse in (True, False):
        emb = torch.nn.Embedding(6, 4, padding_idx=0, sparse=sparse)
        lin = torch.nn.Linear(4, 2)
        with torch.no_grad():
            emb.weight.copy_(torch.arange(24, dtype=torch.float32).reshape(6, 4) / 10)
            lin.weight.fill_(0.5)
            lin.bias.fill_(0.1)
        lin(emb(ids)).pow(2).sum().backward()
        params = [emb.weight, lin.weight, lin.bias]
        if sparse:
            total = clip_grad_norm(torch, params, 1.0)
        else:
            total = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        grads.append((total, [p.grad.to_dense() if p.grad.is_sparse else p.grad for p in params]))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5) and grads[0][0] > 1.0
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b)
    assert clip_grad_norm(torch, [torch.nn.Parameter(torch.zeros(2))], 1.0) == 0.0


def test_pack_ids_and_bad_inputs(setup, train_pairs) -> None:
    tok, emb = setup
    texts, targets = train_pairs
    flat, offsets = pack_ids(tok, texts[:5])
    assert offsets[0] == 0 and offsets[-1] == len(flat) and len(offsets) == 6
    assert list(flat[offsets[1] : offsets[2]]) == tok.tokenize(texts[1])
    with pytest.raises(InvalidInputError):
        train_student(tok, emb, texts, targets[:10], progress=False)
    with pytest.raises(InvalidInputError):
        train_student(tok, emb, texts[:5], targets[:5], progress=False)
    with pytest.raises(InvalidParameterError):
        TrainConfig(val_frac=0.7)
