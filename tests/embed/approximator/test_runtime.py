from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.embed.approximator import Approximator, default_model_dir, shipped_model_dir
from lance_spiral.errors import InvalidInputError, NotFoundError


@pytest.fixture(scope="module")
def approx(tiny_model_dir: Path) -> Approximator:
    return Approximator.load(tiny_model_dir, threads=1)


def test_embed_shape_norm_and_quality(approx: Approximator, heldout_pairs) -> None:
    texts, targets = heldout_pairs
    emb = approx.embed(texts)
    assert emb.dtype == np.float32 and emb.shape == (len(texts), 384) and approx.dim == 384
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    cos = (emb * targets).sum(1)
    assert cos.mean() > 0.4  # tiny model, 400 training texts, never saw these
    # ranking: a text's own teacher vector should beat a random other text's for most rows
    other = np.roll(targets, 1, axis=0)
    assert (cos > (emb * other).sum(1)).mean() > 0.85


def test_cache_and_batching_do_not_change_results(tiny_model_dir: Path, heldout_pairs) -> None:
    texts = heldout_pairs[0][:60]
    cached = Approximator.load(tiny_model_dir, cache_size=16, batch_size=7)
    plain = Approximator.load(tiny_model_dir, cache_size=0)
    a = cached.embed(texts + texts[:5])
    b = plain.embed(texts + texts[:5])
    assert np.allclose(a, b, atol=1e-5)
    assert len(cached._cache) == 16
    again = cached.embed(texts[-3:])
    assert np.allclose(again, b[57:60], atol=1e-5)


def test_save_load_roundtrip(tiny_model_dir: Path, tmp_path: Path, heldout_pairs) -> None:
    import shutil

    src = Path(shutil.copytree(tiny_model_dir, tmp_path / "src"))
    (src / "SOURCES.md").write_text("licence notices that must travel with the model\n")
    approx = Approximator.load(src)
    out = approx.save(tmp_path / "copy")
    assert (out / "SOURCES.md").read_text() == (src / "SOURCES.md").read_text()
    other = Approximator.load(out)
    texts = heldout_pairs[0][:20]
    assert np.allclose(other.embed(texts), approx.embed(texts), atol=1e-5)
    assert other.size_mb > 0


def test_bad_inputs(approx: Approximator, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        approx.embed("just a string")
    with pytest.raises(InvalidInputError):
        approx.embed(["ok", 3])  # type: ignore[list-item]
    assert approx.embed([]).shape == (0, 384)
    empty = approx.embed([""])
    assert empty.shape == (1, 384) and np.isfinite(empty).all()
    with pytest.raises(NotFoundError, match=r"folder .*missing not found"):
        Approximator.load(tmp_path / "missing")
    with pytest.raises(InvalidInputError):
        Approximator.load(approx.directory, batch_size=0)


def test_corrupt_metadata_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from lance_spiral.errors import CorruptDataError, FormatVersionError

    d = Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))
    tok_file, cfg_file = d / "tokenizer.json", d / "config.json"
    good_tok, good_cfg = tok_file.read_text(), cfg_file.read_text()
    tok = json.loads(good_tok)
    for bad in (
        "{truncated",
        json.dumps({k: v for k, v in tok.items() if k != "kinds"}),
        json.dumps({**tok, "window": "many"}),
        json.dumps({**tok, "max_tokens": 0}),
        json.dumps({**tok, "kinds": tok["kinds"][:-1]}),
    ):
        tok_file.write_text(bad)
        with pytest.raises(CorruptDataError, match=r"tokenizer\.json"):
            Approximator.load(d)
    tok_file.write_text(good_tok)
    for bad in ("[1, 2]", "{nope"):
        cfg_file.write_text(bad)
        with pytest.raises(CorruptDataError, match=r"config\.json"):
            Approximator.load(d)
    cfg_file.write_text(json.dumps({**json.loads(good_cfg), "format_version": 999}))
    with pytest.raises(FormatVersionError):
        Approximator.load(d)
    cfg_file.write_text(good_cfg)
    assert Approximator.load(d).embed(["still loads"]).shape == (1, 384)


def test_default_model_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LANCE_SPIRAL_APPROXIMATOR", raising=False)
    # The shipped model is package data: beside the package's code, not in a build folder.
    import lance_spiral

    package = Path(lance_spiral.__file__).resolve().parent
    assert default_model_dir() == shipped_model_dir() == package / "data" / "approximator"
    monkeypatch.setenv("LANCE_SPIRAL_APPROXIMATOR", str(tmp_path))
    assert default_model_dir() == tmp_path
    monkeypatch.setenv("LANCE_SPIRAL_APPROXIMATOR", "")
    assert default_model_dir() == shipped_model_dir()


def test_missing_folder_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LANCE_SPIRAL_APPROXIMATOR", str(tmp_path / "gone"))
    with pytest.raises(NotFoundError, match=r"gone not found .*LANCE_SPIRAL_APPROXIMATOR"):
        Approximator.load()
    with pytest.raises(NotFoundError, match=r"other not found .*lance-spiral distill"):
        Approximator.load(tmp_path / "other")


def test_threads_sharing_one_instance_get_single_threaded_results(
    tiny_model_dir: Path, heldout_pairs
) -> None:
    """Threads hammer one instance whose tiny cache evicts all the time (issue 22 item 6).

    Without the cache lock a hit found by one thread is evicted by another before its
    ``move_to_end`` (KeyError), seen here within a few thousand calls at a short switch interval.
    """
    import sys
    import threading

    texts = heldout_pairs[0][:8]
    want = Approximator.load(tiny_model_dir, cache_size=0).embed(texts)
    shared = Approximator.load(tiny_model_dir, cache_size=4, batch_size=2, threads=1)
    errors: list[BaseException] = []
    mismatches: list[int] = []
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            start.wait()
            for _ in range(400):
                rows = rng.choice(len(texts), size=3)
                got = shared.embed([texts[i] for i in rows])
                if not np.allclose(got, want[rows], atol=1e-5):
                    mismatches.append(seed)
        except BaseException as exc:  # reported below
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        pool = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    assert not mismatches
    assert len(shared._cache) <= 4


def test_embed_leaves_the_callers_numba_thread_count(tiny_model_dir: Path) -> None:
    import threading

    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:  # type: ignore[attr-defined]
        pytest.skip("needs numba with 2+ threads to tell a change")
    one = Approximator.load(tiny_model_dir, threads=1, cache_size=0)
    before = numba.get_num_threads()
    one.embed(["the caller keeps its numba threads"])
    assert numba.get_num_threads() == before
    seen: list[int] = []

    def other() -> None:
        numba.set_num_threads(2)
        one.embed(["a worker thread too", "twice"])
        seen.append(numba.get_num_threads())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [2] and numba.get_num_threads() == before


def test_inference_imports_neither_torch_nor_sentence_transformers(tiny_model_dir: Path) -> None:
    code = (
        "import sys\n"
        "from lance_spiral.embed import Approximator\n"
        f"a = Approximator.load({str(tiny_model_dir)!r})\n"
        "e = a.embed(['a small test sentence', 'another one'])\n"
        "assert e.shape == (2, 384), e.shape\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "print('loaded:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tables_are_int8_and_checked_on_load(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from safetensors.numpy import load_file, save_file

    from lance_spiral.errors import CorruptDataError

    d = Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))
    tables = d / "tables.safetensors"
    good = load_file(str(tables))
    assert good["features"].dtype == np.int8
    assert good["row_scales"].shape == (good["features"].shape[0],)
    assert good["col_scales"].shape == (good["features"].shape[1],)
    texts = ["a small test sentence", "another one", ""]
    assert Approximator.load(d).embed(texts).shape == (3, 384)
    bad_tables = [
        {k: v for k, v in good.items() if k != "row_scales"},
        {k: v for k, v in good.items() if k != "logits"},
        {**good, "col_scales": good["col_scales"][:-1]},
        {**{k: v[:-1] for k, v in good.items()}, "col_scales": good["col_scales"]},
        {**good, "logits": np.full_like(good["logits"], np.nan)},
        {**good, "logits": good["logits"][:, :0]},
    ]
    for bad in bad_tables:
        save_file(bad, str(tables))
        with pytest.raises(CorruptDataError, match=r"tables\.safetensors"):
            Approximator.load(d)
    tables.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{trunc")
    with pytest.raises(CorruptDataError, match=r"tables\.safetensors"):
        Approximator.load(d)


def test_fast_path_does_not_need_the_whole_graph(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    d = Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))
    texts = ["a small test sentence", "another one"]
    ref = Approximator.load(d).embed(texts)
    (d / "model.onnx").unlink()
    assert np.allclose(Approximator.load(d).embed(texts), ref)
    with pytest.raises(NotFoundError, match=r"model\.onnx"):
        Approximator.load(d, fast=False)
    saved = Approximator.load(d).save(tmp_path / "copy")
    assert not (saved / "model.onnx").exists()
    assert np.allclose(Approximator.load(saved).embed(texts), ref)


def test_the_shipped_model_names_itself(monkeypatch: pytest.MonkeyPatch,
                                        tiny_model_dir: Path) -> None:
    monkeypatch.delenv("LANCE_SPIRAL_APPROXIMATOR", raising=False)
    shipped = Approximator.load()
    assert shipped.directory == shipped_model_dir() and shipped.name.endswith("(shipped)")
    assert Approximator.load(tiny_model_dir).name == "tiny_approximator"
    vec = shipped.embed(["hello world"])
    assert vec.shape == (1, 384) and np.isclose(np.linalg.norm(vec), 1, atol=1e-4)
