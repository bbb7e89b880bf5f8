"""Distillation: train the student to regress texts onto their teacher embeddings.

Losses: cosine (+ MSE, + optional in-batch contrastive), a seeded validation split, early stopping,
warm-up + cosine learning-rate schedule, gradient clipping and accumulation, safetensors
checkpoints, a JSONL metrics log and a training-curve plot.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral._optional import require
from lance_spiral.embed.approximator.tokenizer import Tokenizer
from lance_spiral.errors import InvalidInputError, InvalidParameterError
from lance_spiral.train.gradients import TableGrad, clip_grad_norm, plot_curve
from lance_spiral.train.student import StudentConfig, build_student, count_parameters

__all__ = ["TrainConfig", "TrainResult", "pack_ids", "train_student"]


@dataclass
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: Maximum passes over the training texts.
        batch_size: Texts per optimiser micro-batch.
        grad_accum: Micro-batches per optimiser step.
        lr: Peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup: Fraction of steps spent warming up.
        clip: Gradient-norm clip.
        cos_weight: Weight of ``1 - cos``.
        mse_weight: Weight of the MSE between normalised vectors (x dim).
        contrastive_weight: Weight of the in-batch InfoNCE loss (0 disables).
        temperature: InfoNCE temperature.
        val_frac: Share of texts held out for validation.
        patience: Epochs without validation improvement before stopping.
        max_steps: Optional cap on optimiser steps (quick runs).
        seed: Seed for the split, shuffling and initialisation.
        threads: Torch threads (None keeps torch's default).
        embed_lr_scale: Learning-rate multiplier for the entry table when the model config
            trains it (``train_embeddings``); the table gets no weight decay.
    """

    epochs: int = 8
    batch_size: int = 256
    grad_accum: int = 1
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    clip: float = 1.0
    cos_weight: float = 1.0
    mse_weight: float = 0.0
    contrastive_weight: float = 0.1
    temperature: float = 0.05
    val_frac: float = 0.02
    patience: int = 2
    max_steps: int | None = None
    seed: int = 0
    threads: int | None = None
    embed_lr_scale: float = 0.1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.grad_accum < 1:
            raise InvalidParameterError("epochs >= 1, batch_size >= 2 and grad_accum >= 1 required")
        if not 0 < self.val_frac < 0.5:
            raise InvalidParameterError("val_frac must be in (0, 0.5)")
        if self.lr <= 0 or self.temperature <= 0 or self.embed_lr_scale <= 0:
            raise InvalidParameterError("lr, temperature and embed_lr_scale must be > 0")


@dataclass
class TrainResult:
    """Outcome of :func:`train_student`.

    ``params`` counts the trained network (phi, attention, rho and the per-entry attention
    bias); ``entry_table_params`` the fine-tuned entry table (0 when it stays frozen at the
    teacher's embeddings). Either way the export folds both into per-entry lookup tables.
    """

    model: Any
    best_val_cosine: float
    epochs_run: int
    steps: int
    seconds: float
    n_train: int
    n_val: int
    params: int
    entry_table_params: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (without the model)."""
        d = asdict(self)
        d.pop("model")
        return d


def pack_ids(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise texts into a flat id array and row offsets.

    Returns:
        ``(flat int32[total], offsets int64[n + 1])``.
    """
    flat, offsets = tokenizer.tokenize_batch(texts)
    return flat.astype(np.int32), offsets


def _batch_ids(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    lengths = offsets[rows + 1] - offsets[rows]
    width = max(int(lengths.max()), 1)
    out = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.arange(width)[None, :] < lengths[:, None]
    pos = offsets[rows][:, None] + np.arange(width)[None, :]
    out[mask] = flat[pos[mask]]
    return out


def _length_batches(
    lengths: np.ndarray, rows: np.ndarray, batch: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffle, sort by length inside pools of 50 batches, cut, shuffle the batches."""
    perm = rows[rng.permutation(len(rows))]
    pool = batch * 50
    out: list[np.ndarray] = []
    for start in range(0, len(perm), pool):
        chunk = perm[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out.extend(
            chunk[i : i + batch]
            for i in range(0, len(chunk), batch)
            if len(chunk[i : i + batch]) > 1
        )
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def train_student(
    tokenizer: Tokenizer,
    entry_embeddings: np.ndarray,
    texts: Sequence[str],
    targets: np.ndarray,
    *,
    model_config: StudentConfig | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    plot: bool = True,
    init_state: dict[str, Any] | None = None,
) -> TrainResult:
    """Distil a student on ``(text, teacher embedding)`` pairs.

    Args:
        tokenizer: Tokeniser over the vocabulary.
        entry_embeddings: float32 [n_entries, d] vocabulary embeddings.
        texts: Training texts.
        targets: float32 [len(texts), out_dim] teacher embeddings (normalised here).
        model_config: Student shape (``out_dim`` is taken from ``targets``).
        config: Optimisation settings.
        out_dir: Where ``metrics.jsonl``, ``best.safetensors`` and ``curve.png`` go (None: nowhere).
        progress: Progress bars.
        plot: Write the training-curve plot (needs matplotlib).
        init_state: Start from these weights instead of a fresh initialisation (a warm start:
            e.g. another build's ``train/best.safetensors`` over the same vocabulary and shape).

    Returns:
        The trained model (best validation state) and a summary.

    Raises:
        InvalidInputError: If texts and targets disagree, there are too few texts, or
            ``init_state`` does not fit the student.
    """
    torch = require("torch", "train")
    from tqdm.auto import tqdm

    targets = np.asarray(targets, dtype=np.float32)
    if targets.ndim != 2 or targets.shape[0] != len(texts):
        raise InvalidInputError(f"targets must be [{len(texts)}, d], got {targets.shape}")
    if len(texts) < 20:
        raise InvalidInputError(f"need at least 20 training texts, got {len(texts)}")
    if entry_embeddings.shape[0] != tokenizer.size:
        raise InvalidInputError("entry_embeddings rows must match the tokenizer's vocabulary")
    cfg = config or TrainConfig()
    mcfg = model_config or StudentConfig()
    mcfg.out_dim = int(targets.shape[1])
    prev_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    targets = targets / np.maximum(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12)
    flat, offsets = pack_ids(tokenizer, texts)
    lengths = np.diff(offsets)
    perm = rng.permutation(len(texts))
    n_val = max(int(len(texts) * cfg.val_frac), 8)
    val_rows, train_rows = np.sort(perm[:n_val]), perm[n_val:]
    model = build_student(mcfg, entry_embeddings)
    if init_state is not None:
        try:
            model.load_state_dict(init_state)
        except RuntimeError as e:  # missing/unexpected keys or shapes
            raise InvalidInputError(f"init_state does not fit the student: {e}") from e
    params = [p for p in model.parameters() if p.requires_grad]
    emb_w = model.embed.weight
    groups: list[dict[str, Any]] = [
        {"params": [p for p in params if p is not emb_w], "lr_scale": 1.0},
    ]
    table_params = 0
    table_grad = None
    if emb_w.requires_grad:
        # The entry table starts at the teacher's embeddings: a smaller step and no decay keep
        # entries that few training texts touch where the teacher put them.
        groups.append({"params": [emb_w], "lr_scale": cfg.embed_lr_scale, "weight_decay": 0.0})
        table_params = emb_w.numel()
        model.embed.sparse = True
        table_grad = TableGrad(emb_w)
    # Fused: one pass over each parameter; the default per-tensor path costs ~10x on the table.
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    per_epoch = math.ceil(len(train_rows) / cfg.batch_size / cfg.grad_accum)
    total = (
        per_epoch * cfg.epochs
        if cfg.max_steps is None
        else min(cfg.max_steps, per_epoch * cfg.epochs)
    )
    warm = max(int(total * cfg.warmup), 1)

    def lr_at(step: int) -> float:
        if step < warm:
            return cfg.lr * (step + 1) / warm
        frac = min((step - warm) / max(total - warm, 1), 1.0)
        return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))

    t_all = torch.from_numpy(targets)
    out_path = Path(out_dir) if out_dir is not None else None
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
        (out_path / "metrics.jsonl").write_text("")

    def log(rec: dict[str, Any]) -> None:
        if out_path is not None:
            with open(out_path / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")

    def validate() -> float:
        model.eval()
        sims = []
        with torch.no_grad():
            for start in range(0, len(val_rows), 512):
                rows = val_rows[start : start + 512]
                pred = model(torch.from_numpy(_batch_ids(flat, offsets, rows)))
                sims.append((pred * t_all[rows]).sum(-1))
        model.train()
        return float(torch.cat(sims).mean())

    best, best_state, bad, step, epoch = -1.0, None, 0, 0, 0
    t0 = time.perf_counter()
    model.train()
    for epoch in range(1, cfg.epochs + 1):
        batches = _length_batches(lengths, train_rows, cfg.batch_size, rng)
        run_loss, n_loss = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}", disable=not progress, leave=False)
        for i, rows in enumerate(bar):
            ids = torch.from_numpy(_batch_ids(flat, offsets, rows))
            tgt = t_all[rows]
            pred = model(ids)
            cos = (pred * tgt).sum(-1)
            loss = cfg.cos_weight * (1 - cos).mean()
            if cfg.mse_weight:
                loss = loss + cfg.mse_weight * ((pred - tgt) ** 2).sum(-1).mean()
            if cfg.contrastive_weight:
                logits = pred @ tgt.T / cfg.temperature
                labels = torch.arange(len(rows))
                loss = loss + cfg.contrastive_weight * torch.nn.functional.cross_entropy(
                    logits, labels
                )
            (loss / cfg.grad_accum).backward()
            run_loss += float(loss.detach())
            n_loss += 1
            if (i + 1) % cfg.grad_accum == 0 or i + 1 == len(batches):
                for g in opt.param_groups:
                    g["lr"] = lr_at(step) * g["lr_scale"]
                clip_grad_norm(torch, params, cfg.clip)
                if table_grad is not None:
                    table_grad.densify()
                opt.step()
                if table_grad is not None:
                    table_grad.clear()
                opt.zero_grad(set_to_none=True)
                step += 1
                if step % 50 == 0:
                    log(
                        {"step": step, "epoch": epoch, "loss": run_loss / n_loss, "lr": lr_at(step)}
                    )
                    bar.set_postfix(loss=f"{run_loss / n_loss:.4f}")
                    run_loss, n_loss = 0.0, 0
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
        val = validate()
        log({"step": step, "epoch": epoch, "val_cosine": val, "seconds": time.perf_counter() - t0})
        if progress:
            print(
                f"epoch {epoch}: val cosine {val:.4f} ({time.perf_counter() - t0:.0f}s)", flush=True
            )
        if val > best + 1e-4:
            best, bad = val, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out_path is not None:
                from safetensors.torch import save_file

                save_file(
                    {k: v.contiguous() for k, v in best_state.items()},
                    str(out_path / "best.safetensors"),
                )
        else:
            bad += 1
            if bad >= cfg.patience:
                break
        if cfg.max_steps is not None and step >= cfg.max_steps:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.embed.sparse = False
    model.eval()
    torch.set_num_threads(prev_threads)
    if out_path is not None and plot:
        plot_curve(out_path / "metrics.jsonl", out_path / "curve.png")
    return TrainResult(
        model=model,
        best_val_cosine=best,
        epochs_run=epoch,
        steps=step,
        seconds=time.perf_counter() - t0,
        n_train=len(train_rows),
        n_val=len(val_rows),
        params=count_parameters(model) - table_params,
        entry_table_params=table_params,
    )
