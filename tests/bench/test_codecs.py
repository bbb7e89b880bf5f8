"""`lance-spiral bench codecs` on real SciFact embeddings: JSON fields, recall sanity, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.cli import main
from lance_spiral.codecs.metrics import exact_topk, recall_at

ROW_FIELDS = {"codec", "bytes_per_vector", "param_bytes", "cos_mean", "cos_p01", "recall_at_10",
              "recall_at_10_rerank", "encode_vps", "decode_vps", "system"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, scifact_corpus_emb: np.ndarray,
          scifact_query_emb: np.ndarray) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bench_data")
    base = scifact_corpus_emb[:3000]
    queries = scifact_query_emb[:200]
    np.save(d / "base.npy", base)
    np.save(d / "base16.npy", base.astype(np.float16))
    np.save(d / "q.npy", queries)
    # Independent oracle: full argsort of exact inner products against the float16 base.
    scores = queries @ base.astype(np.float16).astype(np.float32).T
    np.save(d / "gt16.npy", np.argsort(-scores, axis=1)[:, :100].astype(np.int32))
    return {"dir": d, "base": d / "base.npy", "base16": d / "base16.npy", "q": d / "q.npy",
            "gt16": d / "gt16.npy"}


def _rows(out: Path) -> dict[str, dict]:
    doc = json.loads((out / "results.json").read_text())
    return {f"{r['system']}|{r['codec']}": r for r in doc["rows"]} | {"_doc": doc}


def test_bench_codecs_cli(files: dict[str, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main(["-q", "bench", "codecs", str(files["base"]), "--queries", str(files["q"]),
               "--codec", "sq:bits=8", "--codec", "sq:bits=4", "--codec", "binary",
               "--timing-n", "2000", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "sq:bits=4" in printed and "R@10" in printed
    rows = _rows(out)
    doc = rows.pop("_doc")
    assert doc["n"] == 3000 and doc["dim"] == 384 and doc["nq"] == 200
    assert (out / "recall_vs_bytes.png").stat().st_size > 10_000
    assert len(doc["rows"]) == 3
    for r in doc["rows"]:
        assert set(r) >= ROW_FIELDS, r
        assert r["system"] == "lance-spiral"
        assert r["encode_vps"] > 0 and r["decode_vps"] > 0
    sq8, sq4, b1 = (rows[f"lance-spiral|{c}"] for c in ("sq:bits=8", "sq:bits=4", "binary"))
    assert sq8["bytes_per_vector"] == 384 and sq4["bytes_per_vector"] == 192
    assert b1["bytes_per_vector"] < 64
    # Quality floors on real embeddings (SQ8 is also the re-ranker: no re-rank column for it).
    assert sq8["recall_at_10"] >= 0.97 and sq8["cos_mean"] >= 0.9999
    assert sq8["recall_at_10_rerank"] is None
    assert sq4["recall_at_10"] >= 0.85 and sq4["cos_mean"] >= 0.98
    assert sq4["recall_at_10_rerank"] >= 0.97
    assert b1["recall_at_10"] >= 0.5 and b1["recall_at_10_rerank"] >= 0.95
    assert sq8["cos_p01"] <= sq8["cos_mean"]
    assert sq8["recall_at_10"] >= sq4["recall_at_10"] >= b1["recall_at_10"]


def test_bench_float16_input_with_given_gt(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main(["bench", "codecs", str(files["base16"]), "--queries", str(files["q"]),
               "--gt", str(files["gt16"]), "--codec", "float16", "--rerank-codec", "none",
               "--quiet", "--out", str(out)])
    assert rc == 0
    rows = _rows(out)
    doc = rows.pop("_doc")
    assert doc["ground_truth"] == "given" and doc["rerank_codec"] is None
    f16 = rows["lance-spiral|float16"]
    # float16 codes of float16 input are lossless: recall is exact up to score ties.
    assert f16["cos_mean"] > 0.99999 and f16["recall_at_10"] >= 0.995
    assert f16["recall_at_10_rerank"] is None


def test_exact_topk_matches_argsort(files: dict[str, Path]) -> None:
    base = np.load(files["base16"]).astype(np.float32)
    q = np.load(files["q"])
    gt = np.load(files["gt16"])
    ids = exact_topk(base, q, 10)
    assert recall_at(ids, gt, 10) >= 0.999


def test_bench_faiss_rows(files: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    out = tmp_path / "out"
    rc = main(["-q", "bench", "codecs", str(files["base"]), "--queries", str(files["q"]),
               "--codec", "sq:bits=4", "--faiss", "--faiss-indexes", "sq,rabitq",
               "--timing-n", "1000", "--out", str(out)])
    assert rc == 0
    rows = _rows(out)
    rows.pop("_doc")
    faiss_rows = {k.split("|", 1)[1]: r for k, r in rows.items() if r["system"] == "faiss"}
    assert {"faiss:SQ8", "faiss:SQ6", "faiss:SQ4", "faiss:RaBitQ1"} == set(faiss_rows)
    for r in faiss_rows.values():
        assert set(r) >= ROW_FIELDS
        assert 0.0 <= r["recall_at_10"] <= 1.0
    assert faiss_rows["faiss:SQ8"]["bytes_per_vector"] == 384
    assert faiss_rows["faiss:SQ8"]["recall_at_10"] >= 0.97
    assert faiss_rows["faiss:RaBitQ1"]["recall_at_10_rerank"] >= 0.95
    ours = rows["lance-spiral|sq:bits=4"]
    # Same data, same ground truth: our SQ4 should not trail faiss's SQ4 by much.
    assert ours["recall_at_10"] >= faiss_rows["faiss:SQ4"]["recall_at_10"] - 0.03


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--codec", "nosuchcodec:bits=3"], "unknown codec 'nosuchcodec'"),
        (["--codec", "sq:bits=8", "--gt", "/nonexistent/gt.npy"], "ground-truth file not found"),
    ],
)
def test_bench_errors_exit_2(files: dict[str, Path], tmp_path: Path, extra: list[str],
                             message: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["-q", "bench", "codecs", str(files["base"]), "--queries", str(files["q"]),
               *extra, "--out", str(tmp_path / "o")])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "results.json").exists()


def test_bench_dimension_mismatch(files: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "q100.npy", np.load(files["q"])[:, :100])
    rc = main(["-q", "bench", "codecs", str(files["base"]), "--queries",
               str(tmp_path / "q100.npy"), "--codec", "sq:bits=8", "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "dimension 100, expected 384" in capsys.readouterr().err
    np.save(tmp_path / "ints.npy", np.arange(10).reshape(2, 5))
    rc = main(["-q", "bench", "codecs", str(tmp_path / "ints.npy"), "--queries",
               str(files["q"]), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "floating-point" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_faiss_pq_rows_match_budget(files: dict[str, Path], tmp_path: Path) -> None:
    """faiss PQ/OPQ/IVF-PQ/RQ rows at the byte budget of our pq row (slow: faiss PQ training)."""
    pytest.importorskip("faiss")
    out = tmp_path / "out"
    rc = main(["-q", "bench", "codecs", str(files["base"]), "--queries", str(files["q"]),
               "--codec", "pq:m=16,bits=8", "--faiss", "--faiss-indexes", "pq,opq,ivfpq,rq",
               "--timing-n", "1000", "--out", str(out)])
    assert rc == 0
    rows = _rows(out)
    rows.pop("_doc")
    faiss_rows = {k.split("|", 1)[1]: r for k, r in rows.items() if r["system"] == "faiss"}
    assert {"faiss:PQ16x8", "faiss:OPQ16,PQ16x8", "faiss:RQ16x8"} <= set(faiss_rows)
    assert faiss_rows["faiss:PQ16x8"]["bytes_per_vector"] == 16
    ivf = next(r for k, r in faiss_rows.items() if k.startswith("faiss:IVF"))
    assert ivf["bytes_per_vector"] >= 16 and ivf["nprobe"] >= 16
