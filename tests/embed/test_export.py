from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lance_spiral.embed.approximator import Approximator  # noqa: E402
from lance_spiral.embed.export import export_approximator, export_onnx  # noqa: E402
from lance_spiral.embed.model import StudentConfig, build_student  # noqa: E402
from lance_spiral.embed.tokenizer import Tokenizer  # noqa: E402
from lance_spiral.embed.vocab import static_entry_embeddings  # noqa: E402
from lance_spiral.errors import InvalidParameterError  # noqa: E402


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
    q8 = Approximator.load(tmp_path / "a", quantized=True).embed(train_pairs[0][:100])
    assert (tmp_path / "a" / "model.int8.onnx").stat().st_size < (
        tmp_path / "a" / "model.onnx"
    ).stat().st_size
    assert (full * q8).sum(1).mean() > 0.95


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
