"""The student: DeepSets over vocabulary-entry embeddings with attention pooling (torch).

``phi`` maps each entry embedding to a feature vector, a learned query per head scores it (plus a
learned per-entry bias), a masked softmax pools each head's slice, ``rho`` maps the pooled vector
to the teacher's dimension. Nothing depends on token order, so everything per token can be folded
into one lookup table per entry at export (:func:`build_folded`).

Optional context pass (``StudentConfig.context_heads > 0``): a second attention pooling whose
query is computed from the first pass's pooled vector, so a token's weight depends on the text
it is in. Its keys are a linear map of the token features, its values the features themselves
or another linear map of them (all folded into per-entry tables too), and its pooled vector
joins the first through a zero-initialised projection, so training starts from the plain
student.
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
        context_heads: Heads of the context pass (0: no context pass).
        context_key_dim: Width of the context keys (divisible by ``context_heads``).
        context_value_dim: Width of the context values, a linear map of the features (divisible
            by ``context_heads``); 0 pools the features themselves, which adds no table.
    """

    hidden: int = 512
    phi_hidden: int = 1024
    rho_hidden: int = 1024
    heads: int = 4
    out_dim: int = 384
    train_embeddings: bool = False
    dropout: float = 0.0
    context_heads: int = 0
    context_key_dim: int = 128
    context_value_dim: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "phi_hidden", "rho_hidden", "heads", "out_dim"):
            if int(getattr(self, name)) < 1:
                raise InvalidParameterError(f"{name} must be >= 1")
        if self.hidden % self.heads:
            raise InvalidParameterError(f"hidden={self.hidden} not divisible by heads={self.heads}")
        if self.context_heads < 0:
            raise InvalidParameterError("context_heads must be >= 0")
        if self.context_heads:
            widths = {
                "context_key_dim": self.context_key_dim,
                "context_value_dim": self.context_value_dim or self.hidden,
            }
            if self.context_value_dim < 0:
                raise InvalidParameterError("context_value_dim must be >= 0")
            for name, width in widths.items():
                if width < 1 or width % self.context_heads:
                    raise InvalidParameterError(
                        f"{name}={width} must be >= 1 and divisible by "
                        f"context_heads={self.context_heads}"
                    )
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
            if cfg.context_heads:
                self.context_key = nn.Linear(cfg.hidden, cfg.context_key_dim, bias=False)
                if cfg.context_value_dim:
                    self.context_value = nn.Linear(cfg.hidden, cfg.context_value_dim, bias=False)
                self.context_bias = nn.Embedding(n, cfg.context_heads)
                nn.init.zeros_(self.context_bias.weight)
                self.context_query = nn.Sequential(
                    nn.LayerNorm(cfg.hidden), nn.Linear(cfg.hidden, cfg.context_key_dim)
                )
                nn.init.zeros_(self.context_query[1].weight)
                nn.init.zeros_(self.context_query[1].bias)
                width = cfg.context_value_dim or cfg.hidden
                self.context_mix = nn.Linear(width, cfg.hidden, bias=False)
                nn.init.zeros_(self.context_mix.weight)  # starts as the plain student

        def token_features(self, ids: Any) -> tuple[Any, Any]:
            """Per-entry features [.., hidden] and attention logits [.., heads]."""
            e = self.embed(ids)
            v = self.phi(e) + self.skip(e)
            heads = cfg.heads
            vh = v.reshape(*v.shape[:-1], heads, cfg.hidden // heads)
            logits = (vh * self.query).sum(-1) / math.sqrt(cfg.hidden // heads) + self.bias(ids)
            return v, logits

        def pool(self, v: Any, logits: Any, mask: Any) -> Any:
            """Masked multi-head softmax pooling: v [B, T, w], logits [B, T, h] -> [B, w]."""
            heads, width = logits.shape[-1], v.shape[-1]
            logits = logits.masked_fill(~mask.unsqueeze(-1), -1e4)
            w = torch.softmax(logits, dim=1) * mask.unsqueeze(-1).to(v.dtype)
            vh = v.reshape(v.shape[0], v.shape[1], heads, width // heads)
            return (w.unsqueeze(-1) * vh).sum(1).reshape(v.shape[0], width)

        def context_logits(self, keys: Any, first: Any, ids: Any) -> Any:
            """Context-pass logits [B, T, heads] from keys [B, T, k] and first pass [B, hidden]."""
            ch = cfg.context_heads
            dk = cfg.context_key_dim // ch
            q = self.context_query(first).reshape(first.shape[0], 1, ch, dk)
            kh = keys.reshape(keys.shape[0], keys.shape[1], ch, dk)
            return (kh * q).sum(-1) / math.sqrt(dk) + self.context_bias(ids)

        def head(self, pooled: Any) -> Any:
            """Rho + L2 normalisation."""
            out = self.rho(pooled) + self.out_skip(pooled)
            return torch.nn.functional.normalize(out, dim=-1)

        def forward(self, ids: Any) -> Any:
            mask = ids > 0
            uniq, inverse = torch.unique(ids, return_inverse=True)
            v_u, l_u = self.token_features(uniq)
            v = self.drop(v_u[inverse])
            pooled = self.pool(v, l_u[inverse], mask)
            if cfg.context_heads:
                keys = self.context_key(v_u)[inverse]
                values = self.context_value(v_u)[inverse] if cfg.context_value_dim else v
                logits2 = self.context_logits(keys, pooled, ids)
                pooled = pooled + self.context_mix(self.pool(values, logits2, mask))
            return self.head(pooled)

        def fold(self) -> dict[str, np.ndarray]:
            """Per-entry tables (eval mode), float32 by name.

            ``features`` [n, hidden] and ``logits`` [n, heads]; with a context pass also
            ``context_keys`` [n, k], ``context_bias`` [n, heads] and, if the values are a
            projection, ``context_values`` [n, v].
            """
            parts: dict[str, list[Any]] = {}
            with torch.no_grad():
                for start in range(0, n, 8192):
                    ids = torch.arange(start, min(start + 8192, n))
                    v, lg = self.token_features(ids)
                    chunk = {"features": v, "logits": lg}
                    if cfg.context_heads:
                        chunk["context_keys"] = self.context_key(v)
                        if cfg.context_value_dim:
                            chunk["context_values"] = self.context_value(v)
                        chunk["context_bias"] = self.context_bias(ids)
                    for name, value in chunk.items():
                        parts.setdefault(name, []).append(value)
            return {name: torch.cat(value).numpy() for name, value in parts.items()}

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
    tables = student.fold()
    dt = getattr(torch, table_dtype)
    cfg = student.config

    def pool(v: Any, lg: Any, mask: Any, heads: int) -> Any:
        b, t, width = v.shape
        lg = lg.masked_fill(~mask.unsqueeze(-1), -1e4)
        w = torch.softmax(lg, dim=1) * mask.unsqueeze(-1).float()
        vh = v.reshape(b, t, heads, width // heads).transpose(1, 2)
        return torch.matmul(w.transpose(1, 2).unsqueeze(2), vh).reshape(b, width)

    class Folded(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            for name, table in tables.items():
                self.register_buffer(name, torch.from_numpy(table).to(dt))
            self.rho = student.rho
            self.out_skip = student.out_skip
            if cfg.context_heads:
                self.context_query = student.context_query
                self.context_mix = student.context_mix

        def forward(self, ids: Any) -> Any:
            mask = ids > 0
            feats = self.features[ids].float()
            pooled = pool(feats, self.logits[ids].float(), mask, cfg.heads)
            if cfg.context_heads:
                ch = cfg.context_heads
                dk = cfg.context_key_dim // ch
                q = self.context_query(pooled).reshape(ids.shape[0], 1, ch, dk)
                keys = self.context_keys[ids].float().reshape(ids.shape[0], ids.shape[1], ch, dk)
                lg2 = (keys * q).sum(-1) / math.sqrt(dk) + self.context_bias[ids].float()
                values = self.context_values[ids].float() if cfg.context_value_dim else feats
                second = pool(values, lg2, mask, ch)
                pooled = pooled + self.context_mix(second)
            out = self.rho(pooled) + self.out_skip(pooled)
            return out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    return Folded().eval()
