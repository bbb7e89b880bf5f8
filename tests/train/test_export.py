from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lance_spiral.embed.approximator import Approximator  # noqa: E402
from lance_spiral.embed.approximator.tokenizer import Tokenizer  # noqa: E402
from lance_spiral.errors import (  # noqa: E402
    CorruptDataError,
    InvalidParameterError,
    NotFoundError,
)
from lance_spiral.train.export import export_approximator, export_onnx  # noqa: E402
from lance_spiral.train.mining import static_entry_embeddings  # noqa: E402
from lance_spiral.train.student import StudentConfig, build_student  # noqa: E402


@pytest.fixture(scope="module")
def student(small_vocab, teacher_dir):
    kinds, texts = small_vocab
    emb = static_entry_embeddings(kinds, texts, teacher_dir)
    torch.manual_seed(0)
    model = build_student(
        StudentConfig(hidden=64, phi_hidden=128, rho_hidden=128, heads=2), emb
    ).eval()
    with torch.no_grad():
        model.query.normal_()
        model.bias.weight.normal_(std=0.5)
    return model, Tokenizer(kinds, texts), kinds, texts


def test_onnx_parity_with_torch(student, tmp_path: Path, train_pairs) -> None:
    import onnxruntime as ort

    model, tok, _, _ = student
    path = export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = tok.encode_batch(train_pairs[0][:50])
    got = sess.run(None, {"ids": ids})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(ids)).numpy()
    assert got.shape == ref.shape == (50, 384)
    assert (got * ref).sum(1).min() > 0.999
    with pytest.raises(InvalidParameterError):
        export_onnx(model, tmp_path / "x.onnx", opset=9)


def test_int8_quantised_model_stays_close(student, tmp_path: Path, train_pairs) -> None:
    model, tok, kinds, texts = student
    export_approximator(model, tok, kinds, texts, tmp_path / "a", quantize=True)
    full = Approximator.load(tmp_path / "a").embed(train_pairs[0][:100])
    whole8 = Approximator.load(tmp_path / "a", quantized=True, fast=False)
    assert whole8._session is not None and whole8._tables is None
    assert (tmp_path / "a" / "model.int8.onnx").stat().st_size < (
        tmp_path / "a" / "model.onnx"
    ).stat().st_size
    assert (full * whole8.embed(train_pairs[0][:100])).sum(1).mean() > 0.95
    # The fast path's int8 head: the same tables, int8 matrix products in rho only.
    head8 = Approximator.load(tmp_path / "a", quantized=True)
    assert head8._tables is not None and head8._head_file.name == "head.int8.onnx"
    assert (full * head8.embed(train_pairs[0][:100])).sum(1).min() > 0.99


def test_fast_path_matches_whole_onnx_graph(student, tmp_path: Path, train_pairs) -> None:
    model, tok, kinds, texts = student
    export_approximator(model, tok, kinds, texts, tmp_path / "a")
    batch = [*train_pairs[0][:64], "", "x"]
    fast = Approximator.load(tmp_path / "a", batch_size=16)
    whole = Approximator.load(tmp_path / "a", fast=False)
    assert fast._tables is not None and whole._tables is None
    # The fast path never opens the whole graph (a second copy of the tables in memory).
    assert fast._session is None and whole._session is not None
    a, b = fast.embed(batch), whole.embed(batch)
    assert np.allclose(a, b, atol=2e-3)
    assert (a * b).sum(1).min() > 0.9999
    assert fast.size_mb < whole.size_mb * 1.5


@pytest.fixture(scope="module", params=[32, 0], ids=["projected-values", "feature-values"])
def context_student(request, small_vocab, teacher_dir):
    kinds, texts = small_vocab
    emb = static_entry_embeddings(kinds, texts, teacher_dir)
    torch.manual_seed(1)
    cfg = StudentConfig(
        hidden=64,
        phi_hidden=128,
        rho_hidden=128,
        heads=2,
        context_heads=2,
        context_key_dim=16,
        context_value_dim=request.param,
    )
    model = build_student(cfg, emb).eval()
    with torch.no_grad():  # the context pass starts switched off: give it real weight
        model.query.normal_()
        model.context_query[1].weight.normal_(std=0.3)
        model.context_bias.weight.normal_(std=0.5)
        model.context_mix.weight.normal_(std=0.3)
    return model, Tokenizer(kinds, texts), kinds, texts


def test_context_pass_exports_to_both_paths(context_student, tmp_path: Path, train_pairs) -> None:
    model, tok, kinds, texts = context_student
    out = export_approximator(model, tok, kinds, texts, tmp_path / "a")
    batch = [*train_pairs[0][:64], "", "x"]
    with torch.no_grad():
        ref = model(torch.from_numpy(tok.encode_batch(batch))).numpy()
        plain = model.head(
            model.pool(
                *model.token_features(torch.from_numpy(tok.encode_batch(batch))),
                torch.from_numpy(tok.encode_batch(batch)) > 0,
            )
        ).numpy()
    # The context pass changes the embedding (else this test would prove nothing).
    assert (ref * plain).sum(1).mean() < 0.99
    fast = Approximator.load(out, batch_size=16)
    whole = Approximator.load(out, fast=False)
    assert fast._context is not None and fast._context.heads == 2
    if not model.config.context_value_dim:  # the second pass reads the first's feature table
        assert fast._context.values is fast._tables[0]
    a, b = fast.embed(batch), whole.embed(batch)
    assert (b * ref).sum(1).min() > 0.999  # float16 tables in the whole graph
    assert (a * ref).sum(1).min() > 0.999  # int8 tables + the numba context pass
    assert json.loads((out / "config.json").read_text())["format_version"] == 3


def test_corrupt_context_tables_are_named(context_student, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    model, tok, kinds, texts = context_student
    out = export_approximator(model, tok, kinds, texts, tmp_path / "a")
    good = load_file(str(out / "tables.safetensors"))

    def write(tables: dict[str, np.ndarray]) -> None:
        save_file(tables, str(out / "tables.safetensors"))

    write({k: v for k, v in good.items() if k != "context_mix_weight"})
    with pytest.raises(CorruptDataError, match=r"missing .*context_mix_weight"):
        Approximator.load(out)
    write({**good, "context_query_bias": good["context_query_bias"][:3]})
    with pytest.raises(CorruptDataError, match="context_query_bias has shape"):
        Approximator.load(out)
    write({**good, "context_keys": good["context_keys"].astype(np.float32)})
    with pytest.raises(CorruptDataError, match="int8"):
        Approximator.load(out)
    bad_bias = good["context_bias"].copy()
    bad_bias[3, 0] = np.nan
    write({**good, "context_bias": bad_bias})
    with pytest.raises(CorruptDataError, match="NaN"):
        Approximator.load(out)
    # Tables without the context pass under a config that has one: refused, not silently wrong.
    write({k: v for k, v in good.items() if not k.startswith("context_")})
    with pytest.raises(CorruptDataError, match=r"config\.json says 2"):
        Approximator.load(out)
    write(good)
    cfg = json.loads((out / "config.json").read_text())
    bad_cfg = {**cfg, "model": {**cfg["model"], "context_heads": "2"}}
    (out / "config.json").write_text(json.dumps(bad_cfg))
    with pytest.raises(CorruptDataError, match="context_heads '2' is not an int"):
        Approximator.load(out)
    (out / "config.json").write_text(json.dumps(cfg))
    assert Approximator.load(out).embed(["a text"]).shape == (1, 384)


def test_format_1_and_2_folders_still_load(student, tmp_path: Path, train_pairs) -> None:
    from safetensors.numpy import load_file, save_file

    model, tok, kinds, texts = student
    out = export_approximator(model, tok, kinds, texts, tmp_path / "a")
    batch = train_pairs[0][:20]
    ref = Approximator.load(out).embed(batch)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["context_heads"] == 0
    # An older folder has no int8 head: quantized=True says what is missing and how to get it.
    (out / "head.int8.onnx").unlink()
    with pytest.raises(NotFoundError, match=r"model\.int8\.onnx not found \(neither head"):
        Approximator.load(out, quantized=True)
    # Format 2: the same files (int8 tables, no context pass), an older config.
    (out / "config.json").write_text(json.dumps({**cfg, "format_version": 2}))
    assert np.allclose(Approximator.load(out).embed(batch), ref, atol=1e-6)
    # Format 1: float16 tables without scales, and a config without the context fields.
    good = load_file(str(out / "tables.safetensors"))
    deq = good["features"] * good["row_scales"][:, None] * good["col_scales"][None, :]
    save_file(
        {"features": deq.astype(np.float16), "logits": good["logits"].astype(np.float16)},
        str(out / "tables.safetensors"),
    )
    old_model = {k: v for k, v in cfg["model"].items() if not k.startswith("context_")}
    (out / "config.json").write_text(json.dumps({**cfg, "format_version": 1, "model": old_model}))
    old = Approximator.load(out)
    assert old._tables is not None and old._tables[0].dtype == np.float32
    assert old._context is None
    assert old._scales is not None and all((x == 1).all() for x in old._scales)  # made once
    assert (old.embed(batch) * ref).sum(1).min() > 0.9999
