"""The student: DeepSets over vocabulary-entry embeddings with attention pooling (torch).

``phi`` maps each entry embedding to a feature vector, a learned query per head scores it (plus a
learned per-entry bias), a masked softmax pools each head's slice, ``rho`` maps the pooled vector
to the teacher's dimension. Nothing depends on token order, so everything per token can be folded
into one lookup table per entry at export (:func:`FoldedStudent`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lance_spiral._optional import require
from lance_spiral.errors import InvalidParameterError

__all__ = ["StudentConfig", "build_folded", "build_student", "count_parameters"]


@dataclass
class StudentConfig:
    """Shape of the student network.

    Attributes:
        hidden: Width of phi's output (pooled features); divisible by ``heads``.
        phi_hidden: Width of phi's inner layer.
        rho_hidden: Width of rho's inner layer.
        heads: Attention-pooling heads.
        out_dim: Output dimension (the teacher's).
        train_embeddings: Fine-tune the entry embeddings (else frozen).
        dropout: Dropout on token features during training.
    """

    hidden: int = 512
    phi_hidden: int = 1024
    rho_hidden: int = 1024
    heads: int = 4
    out_dim: int = 384
    train_embeddings: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("hidden", "phi_hidden", "rho_hidden", "heads", "out_dim"):
            if int(getattr(self, name)) < 1:
                raise InvalidParameterError(f"{name} must be >= 1")
        if self.hidden % self.heads:
            raise InvalidParameterError(f"hidden={self.hidden} not divisible by heads={self.heads}")
        if not 0 <= self.dropout < 1:
            raise InvalidParameterError("dropout must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def count_parameters(model: Any, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def build_student(config: StudentConfig, entry_embeddings: np.ndarray) -> Any:
    """Create the student module.

    Args:
        config: Network shape.
        entry_embeddings: float32 [n_entries, d_in] (row 0 = padding).

    Returns:
        A ``torch.nn.Module``; ``forward(ids int64[B, T]) -> float32[B, out_dim]`` (unit norm).

    Raises:
        InvalidParameterError: If the embeddings are not 2-D.
    """
    torch = require("torch", "train")
    nn = torch.nn
    if entry_embeddings.ndim != 2:
        raise InvalidParameterError("entry_embeddings must be 2-D")
    n, d_in = entry_embeddings.shape
    cfg = config

    class Student(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.config = cfg
            self.embed = nn.Embedding(n, d_in, padding_idx=0)
            self.embed.weight.data.copy_(torch.from_numpy(np.asarray(entry_embeddings, np.float32)))
            self.embed.weight.requires_grad_(cfg.train_embeddings)
            self.phi = nn.Sequential(
                nn.Linear(d_in, cfg.phi_hidden), nn.GELU(), nn.Linear(cfg.phi_hidden, cfg.hidden)
            )
            self.skip = nn.Linear(d_in, cfg.hidden, bias=False)
            self.query = nn.Parameter(torch.zeros(cfg.heads, cfg.hidden // cfg.heads))
            self.bias = nn.Embedding(n, cfg.heads)
            nn.init.zeros_(self.bias.weight)
            self.drop = nn.Dropout(cfg.dropout)
            self.rho = nn.Sequential(
                nn.LayerNorm(cfg.hidden),
                nn.Linear(cfg.hidden, cfg.rho_hidden),
                nn.GELU(),
                nn.Linear(cfg.rho_hidden, cfg.out_dim),
            )
            self.out_skip = nn.Linear(cfg.hidden, cfg.out_dim, bias=False)

        def token_features(self, ids: Any) -> tuple[Any, Any]:
            """Per-entry features [.., hidden] and attention logits [.., heads]."""
            e = self.embed(ids)
            v = self.phi(e) + self.skip(e)
            heads = cfg.heads
            vh = v.reshape(*v.shape[:-1], heads, cfg.hidden // heads)
            logits = (vh * self.query).sum(-1) / math.sqrt(cfg.hidden // heads) + self.bias(ids)
            return v, logits

        def pool(self, v: Any, logits: Any, mask: Any) -> Any:
            """Masked multi-head softmax pooling of token features -> [B, hidden]."""
            heads = cfg.heads
            logits = logits.masked_fill(~mask.unsqueeze(-1), -1e4)
            w = torch.softmax(logits, dim=1) * mask.unsqueeze(-1).to(v.dtype)
            vh = v.reshape(v.shape[0], v.shape[1], heads, cfg.hidden // heads)
            return (w.unsqueeze(-1) * vh).sum(1).reshape(v.shape[0], cfg.hidden)

        def head(self, pooled: Any) -> Any:
            """Rho + L2 normalisation."""
            out = self.rho(pooled) + self.out_skip(pooled)
            return torch.nn.functional.normalize(out, dim=-1)

        def forward(self, ids: Any) -> Any:
            mask = ids > 0
            uniq, inverse = torch.unique(ids, return_inverse=True)
            v_u, l_u = self.token_features(uniq)
            v = self.drop(v_u[inverse])
            return self.head(self.pool(v, l_u[inverse], mask))

        def fold(self) -> tuple[np.ndarray, np.ndarray]:
            """Per-entry feature table [n, hidden] and logit table [n, heads] (eval mode)."""
            feats, logs = [], []
            with torch.no_grad():
                for start in range(0, n, 8192):
                    ids = torch.arange(start, min(start + 8192, n))
                    v, lg = self.token_features(ids)
                    feats.append(v)
                    logs.append(lg)
            return torch.cat(feats).numpy(), torch.cat(logs).numpy()

    return Student()


def build_folded(student: Any, *, table_dtype: str = "float16") -> Any:
    """The inference network with phi and attention logits folded into per-entry tables.

    Args:
        student: A module from :func:`build_student`.
        table_dtype: Storage type of the tables (``"float16"`` or ``"float32"``).

    Returns:
        A ``torch.nn.Module``; ``forward(ids) -> float32[B, out_dim]``, same maths as the student.

    Raises:
        InvalidParameterError: On an unknown ``table_dtype``.
    """
    torch = require("torch", "train")
    if table_dtype not in ("float16", "float32"):
        raise InvalidParameterError(f"table_dtype must be float16 or float32, got {table_dtype!r}")
    student.eval()
    feats, logs = student.fold()
    dt = getattr(torch, table_dtype)
    cfg = student.config

    class Folded(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("features", torch.from_numpy(feats).to(dt))
            self.register_buffer("logits", torch.from_numpy(logs).to(dt))
            self.rho = student.rho
            self.out_skip = student.out_skip

        def forward(self, ids: Any) -> Any:
            mask = ids > 0
            v = self.features[ids].float()
            lg = self.logits[ids].float().masked_fill(~mask.unsqueeze(-1), -1e4)
            w = torch.softmax(lg, dim=1) * mask.unsqueeze(-1).float()
            b, t = ids.shape[0], ids.shape[1]
            vh = v.reshape(b, t, cfg.heads, cfg.hidden // cfg.heads).transpose(1, 2)
            pooled = torch.matmul(w.transpose(1, 2).unsqueeze(2), vh).reshape(b, cfg.hidden)
            out = self.rho(pooled) + self.out_skip(pooled)
            return out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    return Folded().eval()
