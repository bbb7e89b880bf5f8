"""Export a trained student to ONNX (folded per-entry tables), optionally int8-quantised."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from lance_spiral._optional import require
from lance_spiral.embed.approximator.tokenizer import Tokenizer
from lance_spiral.errors import InvalidParameterError
from lance_spiral.train.student import build_folded

__all__ = ["FORMAT_VERSION", "MODEL_FILE", "QUANT_FILE", "export_approximator", "export_onnx"]

# 1: float16 fast-path tables; 2: int8 with row/column scales; 3: 2 + optional context tables
FORMAT_VERSION = 3
MODEL_FILE = "model.onnx"
QUANT_FILE = "model.int8.onnx"
TABLES_FILE = "tables.safetensors"
HEAD_FILE = "head.onnx"
QUANT_HEAD_FILE = "head.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
DEFAULT_OPSET = 17


def export_onnx(
    student: Any, path: str | Path, *, opset: int = DEFAULT_OPSET, table_dtype: str = "float16"
) -> Path:
    """Fold the student and write an ONNX graph ``ids int64[B, T] -> embedding float32[B, d]``.

    Args:
        student: A trained module from :func:`lance_spiral.train.student.build_student`.
        path: Output ``.onnx`` file.
        opset: ONNX opset (onnxruntime supports 17 and later here).
        table_dtype: Storage type of the folded tables.

    Returns:
        The written path.

    Raises:
        InvalidParameterError: If ``opset`` is outside 13..21.
    """
    torch = require("torch", "train")
    if not 13 <= opset <= 21:
        raise InvalidParameterError(f"opset must be in 13..21, got {opset}")
    folded = build_folded(student, table_dtype=table_dtype)
    dummy = torch.randint(1, folded.features.shape[0], (2, 7), dtype=torch.int64)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            folded,
            (dummy,),
            str(out),
            input_names=["ids"],
            output_names=["embedding"],
            dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return out


def export_fast_path(
    student: Any, out_dir: str | Path, *, opset: int = DEFAULT_OPSET
) -> tuple[Path, Path]:
    """Write the folded tables (``tables.safetensors``), ``head.onnx`` (rho) and its int8 twin.

    The inference fast path pools with
    :func:`~lance_spiral.embed.approximator.pooling.pool_folded` and runs only rho in
    onnxruntime. The feature table is stored as int8 with one scale per row and one per column
    (:func:`~lance_spiral.embed.approximator.pooling.quantize_table`: ``features``,
    ``row_scales``, ``col_scales``), the attention logits as float32 (``logits``, 4 bytes x heads
    per entry): a quarter of the float32 table in memory, at an embedding cosine measured by
    ``benchmarks/approximator_tables.py``. A student with a context pass adds its ``context_*``
    arrays (:func:`~lance_spiral.embed.approximator.pooling.context_tables`: int8 keys and
    values, float32 rest).

    Args:
        student: A trained student.
        out_dir: Target directory.
        opset: ONNX opset.

    Returns:
        ``(tables path, head path)``.
    """
    torch = require("torch", "train")
    from safetensors.numpy import save_file

    from lance_spiral.embed.approximator.context import context_tables
    from lance_spiral.embed.approximator.pooling import quantize_table

    folded = build_folded(student, table_dtype="float32")
    d = Path(out_dir)
    tables = d / TABLES_FILE
    q, row_scales, col_scales = quantize_table(folded.features.numpy())
    arrays = {
        "features": q,
        "row_scales": row_scales,
        "col_scales": col_scales,
        "logits": folded.logits.numpy().astype("float32"),
    }
    if student.config.context_heads:
        ln, linear = folded.context_query[0], folded.context_query[1]
        params = {
            "context_ln_weight": ln.weight,
            "context_ln_bias": ln.bias,
            "context_query_weight": linear.weight,
            "context_query_bias": linear.bias,
            "context_mix_weight": folded.context_mix.weight,
        }
        arrays.update(
            context_tables(
                {
                    name: getattr(folded, name).numpy()
                    for name in ("context_keys", "context_values", "context_bias")
                    if hasattr(folded, name)
                },
                {name: p.detach().numpy() for name, p in params.items()},
            )
        )
    save_file(arrays, str(tables))

    class Head(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.rho = folded.rho
            self.out_skip = folded.out_skip

        def forward(self, pooled: Any) -> Any:
            out = self.rho(pooled) + self.out_skip(pooled)
            return out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    head = d / HEAD_FILE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Head().eval(),
            (torch.zeros(2, folded.features.shape[1]),),
            str(head),
            input_names=["pooled"],
            output_names=["embedding"],
            dynamic_axes={"pooled": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
        # The head's int8 twin (``Approximator(quantized=True)``): on the default model 3.2x
        # faster, at a mean cosine of 0.9996 to this head's output.
        quantize_onnx(head, d / QUANT_HEAD_FILE)
    return tables, head


def quantize_onnx(src: str | Path, dst: str | Path) -> Path:
    """int8 dynamic quantisation of an exported model (weights of MatMul/Gather)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process fits conv nets, not an MLP
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    return Path(dst)


def export_approximator(
    student: Any,
    tokenizer: Tokenizer,
    kinds: list[str],
    texts: list[str],
    out_dir: str | Path,
    *,
    teacher: str = "",
    quantize: bool = False,
    extra: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write an approximator directory.

    Files: ``model.onnx`` (whole folded graph), ``tables.safetensors`` + ``head.onnx`` (fast
    path), ``tokenizer.json``, ``config.json`` (+ ``model.int8.onnx`` when quantising).

    Args:
        student: Trained student module.
        tokenizer: Its tokeniser (settings are stored).
        kinds: Vocabulary entry kinds.
        texts: Vocabulary entry texts.
        out_dir: Target directory.
        teacher: Name or path of the teacher (recorded).
        quantize: Also write ``model.int8.onnx``.
        extra: More JSON-able facts for ``config.json`` (training summary...).
        opset: ONNX opset.

    Returns:
        The directory.
    """
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    export_onnx(student, d / MODEL_FILE, opset=opset)
    export_fast_path(student, d, opset=opset)
    if quantize:
        tmp = d / "model.fp32.tmp.onnx"
        export_onnx(student, tmp, opset=opset, table_dtype="float32")
        try:
            quantize_onnx(tmp, d / QUANT_FILE)
        finally:
            tmp.unlink(missing_ok=True)
    tok = {
        "kinds": kinds,
        "texts": texts,
        "max_tokens": tokenizer.max_tokens,
        "skipgrams": tokenizer.skipgrams,
        "window": tokenizer.window,
    }
    (d / TOKENIZER_FILE).write_text(json.dumps(tok, ensure_ascii=False))
    cfg = {
        "format_version": FORMAT_VERSION,
        "dim": int(student.config.out_dim),
        "model": student.config.to_dict(),
        "teacher": teacher,
        "quantized": bool(quantize),
        **(extra or {}),
    }
    (d / CONFIG_FILE).write_text(json.dumps(cfg, indent=2))
    return d
