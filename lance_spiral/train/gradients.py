"""Gradient plumbing of distillation, and the training-curve plot.

A persistent buffer for the sparse entry-table gradient and clipping that handles sparse
gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lance_spiral._io import read_jsonl

__all__ = ["TableGrad", "clip_grad_norm", "plot_curve"]


class TableGrad:
    """The entry table's sparse gradient, scattered into one dense buffer kept across steps.

    The table's backward stays sparse (only the rows a batch touches), and only those rows are
    written and cleared again, so a step does not allocate and zero-fill the whole table; AdamW
    still sees a dense gradient and moves every row by its momentum, as plain dense training does.
    """

    def __init__(self, param: Any) -> None:
        self.param = param
        self.buffer = param.detach().new_zeros(param.shape)
        self.rows: Any = None

    def densify(self) -> None:
        """Replace the parameter's sparse gradient by the dense buffer holding it."""
        grad = self.param.grad
        if grad is None or not grad.is_sparse:
            return
        grad = grad.coalesce()
        self.rows = grad.indices()[0]
        self.buffer.index_copy_(0, self.rows, grad.values())
        self.param.grad = self.buffer

    def clear(self) -> None:
        """Zero the rows written by the last :meth:`densify`."""
        if self.rows is not None:
            self.buffer.index_fill_(0, self.rows, 0.0)
            self.rows = None


def clip_grad_norm(torch: Any, params: Sequence[Any], max_norm: float) -> float:
    """Scale all gradients so their joint L2 norm is at most ``max_norm``; sparse ones too.

    ``torch.nn.utils.clip_grad_norm_`` has no kernel for sparse gradients.
    """
    squares = []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            squares.append(p.grad._values().pow(2).sum())
        else:
            squares.append(p.grad.pow(2).sum())
    if not squares:
        return 0.0
    total = float(torch.stack(squares).sum().sqrt())
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            if p.grad is not None:
                p.grad.mul_(coef)
    return total


def plot_curve(metrics_file: str | Path, out_png: str | Path) -> None:
    """Plot training loss and validation cosine from a metrics JSONL file (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    recs = read_jsonl(metrics_file)
    tr = [(r["step"], r["loss"]) for r in recs if "loss" in r]
    va = [(r["step"], r["val_cosine"]) for r in recs if "val_cosine" in r]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if tr:
        ax.plot(*zip(*tr, strict=False), label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if va:
        ax2 = ax.twinx()
        ax2.plot(*zip(*va, strict=False), "o-", color="tab:orange", label="val cosine")
        ax2.set_ylabel("validation cosine")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
