"""In-place compression of tables made by plain LanceDB: column evolution, resume, drop-float."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import lance
import lancedb
import numpy as np
import pyarrow as pa
import pytest
from lancedb.index import IvfFlat

from lance_spiral.arrow import codes_of
from lance_spiral.cli.main import main as cli_main
from lance_spiral.errors import InvalidInputError, InvalidParameterError, NotFoundError, TableError
from lance_spiral.table import compress_table, open_table
from tests.support.s3 import s3, s3_server  # noqa: F401  (fixtures)
from tests.support.tables import exact_top

ROOT = Path(__file__).resolve().parents[2]


def _lancedb_table(path: Path, x: np.ndarray, parts: int = 3, name: str = "docs"
                   ) -> lancedb.table.Table:
    """A table as LanceDB users make one: several adds (one fragment each)."""
    db = lancedb.connect(str(path))
    rows = [{"id": i, "vector": x[i], "text": f"doc {i}", "year": 1990 + i % 30}
            for i in range(len(x))]
    step = -(-len(rows) // parts)
    t = db.create_table(name, rows[:step])
    for s in range(step, len(rows), step):
        t.add(rows[s:s + step])
    return t


def _data_files(uri: str) -> list[str]:
    return sorted(p.name for p in (Path(uri) / "data").iterdir())


def test_compressed_mode_adds_columns_in_one_commit(tmp_path, scifact_corpus_emb,
                                                      scifact_query_emb):
    x = scifact_corpus_emb[:3000]
    t = _lancedb_table(tmp_path / "db", x)
    uri = str(tmp_path / "db" / "docs.lance")
    v0 = lance.dataset(uri).version
    files0 = set(_data_files(uri))
    res = compress_table(str(tmp_path / "db"), table="docs", codec="sq:bits=8",
                         mode="compressed", progress=False)
    assert res.uri == uri and res.rows == 3000 and res.fragments_encoded == 3
    ds = lance.dataset(uri)
    assert ds.version == v0 + 1  # one commit
    # column evolution: the old data files are kept untouched, one new file per fragment
    files1 = set(_data_files(uri))
    assert files0 <= files1 and len(files1 - files0) == 3
    ct = open_table(uri)
    assert ct.mode == "compressed" and ct.meta.payload == ["text", "year"]
    q = scifact_query_emb[:50]
    res_t = ct.search(q).limit(10).select([]).to_arrow()
    qi, ids = res_t.column("_query_index").to_numpy(), res_t.column("id").to_numpy()
    truth = exact_top(q, x, 10)
    recall = np.mean([len(set(ids[qi == i]) & set(truth[i])) / 10 for i in range(len(q))])
    assert recall >= 0.95
    # the codes are the float vectors, encoded: decoded rows are close to the originals
    tbl = ds.to_table(columns=["id", "vector_codes"])
    dec = ct.codec.decode(codes_of(tbl.column("vector_codes")))
    orig = x[tbl.column("id").to_numpy()]
    cos = (dec * orig).sum(1) / np.linalg.norm(dec, axis=1) / np.linalg.norm(orig, axis=1)
    assert cos.min() > 0.99
    # plain LanceDB still reads and searches its float column
    again = lancedb.connect(str(tmp_path / "db")).open_table("docs")
    assert again.count_rows() == 3000
    hit = again.search(x[7]).limit(1).to_arrow()
    assert hit.column("id")[0].as_py() == 7
    # a second run does nothing
    with pytest.raises(TableError):
        compress_table(uri, codec="sq:bits=8", mode="alongside", progress=False)
    assert t.count_rows() == 3000


def test_alongside_keeps_index_and_drop_float_frees_bytes(tmp_path, scifact_corpus_emb):
    x = scifact_corpus_emb[:2000]
    t = _lancedb_table(tmp_path / "db", x, parts=2)
    t.create_index("vector", config=IvfFlat(distance_type="cosine", num_partitions=4))
    uri = str(tmp_path / "db" / "docs.lance")
    res = compress_table(uri, codec="sq:bits=4", progress=False)
    ct = open_table(uri)
    assert ct.mode == "alongside" and ct.has_vector_index()
    hits = ct.search(x[11]).limit(5).nprobes(4).to_list()
    assert hits[0]["id"] == 11
    # compressed mode over the same float data, then drop the floats
    other = _lancedb_table(tmp_path / "db2", x, parts=2)
    uri2 = str(tmp_path / "db2" / "docs.lance")
    mid = compress_table(uri2, codec="sq:bits=8", mode="compressed", progress=False)
    fin = compress_table(uri2, codec="sq:bits=8", mode="compressed", drop_float=True,
                         progress=False)
    assert mid.fragments_encoded == 2 and fin.fragments_encoded == 0 and fin.dropped_float
    assert fin.bytes_after < 0.45 * fin.bytes_before
    assert len(lance.dataset(uri2).versions()) == 1  # old versions cleaned up
    ct2 = open_table(uri2)
    assert "vector" not in ct2.schema.names and len(ct2) == 2000
    assert ct2.search(x[11]).limit(1).to_list()[0]["id"] == 11
    assert other.count_rows() == 2000  # LanceDB reads the rows (no float column left)
    assert res.rows == 2000


def test_killed_run_resumes_without_redoing_work(tmp_path, scifact_corpus_emb):
    x = scifact_corpus_emb[:4000]
    _lancedb_table(tmp_path / "db", x, parts=8)
    _lancedb_table(tmp_path / "ref", x, parts=8)
    uri = str(tmp_path / "db" / "docs.lance")
    v0 = lance.dataset(uri).version
    # a real process killed (SIGKILL) right after its first fragment is checkpointed
    script = textwrap.dedent(f"""
        import os, signal, threading, time
        from pathlib import Path
        from lance_spiral.table import compress_table
        side = Path({uri!r}) / "_lance_spiral"
        def watch():
            while True:
                if any(side.glob("compress-v*/frag-*.json")):
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(0.0005)
        threading.Thread(target=watch, daemon=True).start()
        compress_table({uri!r}, codec="sq:bits=8", mode="compressed", progress=False,
                       batch_size=64)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert lance.dataset(uri).version == v0  # no half state: nothing committed
    open_err = None
    try:
        open_table(uri)
    except NotFoundError as exc:  # still a plain table
        open_err = exc
    assert open_err is not None
    res = compress_table(uri, codec="sq:bits=8", mode="compressed", progress=False)
    assert res.fragments_resumed >= 1 and res.fragments_encoded + res.fragments_resumed == 8
    assert lance.dataset(uri).version == v0 + 1
    assert not list((Path(uri) / "_lance_spiral").glob("compress-v*"))  # checkpoint removed
    ref = compress_table(str(tmp_path / "ref" / "docs.lance"), codec="sq:bits=8",
                         mode="compressed", progress=False)
    assert ref.fragments_encoded == 8
    cols = ["id", "vector_codes", "vector_bits"]
    a = lance.dataset(uri).to_table(columns=cols)
    b = lance.dataset(ref.uri).to_table(columns=cols)
    assert a.column("id").equals(b.column("id"))
    assert np.array_equal(codes_of(a.column("vector_codes")), codes_of(b.column("vector_codes")))
    assert np.array_equal(codes_of(a.column("vector_bits")), codes_of(b.column("vector_bits")))


def test_target_recall_and_cli(tmp_path, scifact_corpus_emb, capsys):
    x = scifact_corpus_emb[:1200]
    _lancedb_table(tmp_path / "db", x, parts=1)
    code = cli_main(["-q", "compress", str(tmp_path / "db"), "--table", "docs",
                     "--target-recall", "0.8", "--mode", "compressed", "--drop-float"])
    assert code == 0
    out = capsys.readouterr().out
    assert "float column dropped" in out and "1200 rows" in out
    ct = open_table(str(tmp_path / "db" / "docs.lance"))
    assert ct.codec is not None and ct.codec.code_bytes < 384 * 4
    assert ct.search(x[3]).limit(1).to_list()[0]["id"] == 3


def test_bad_inputs(tmp_path, scifact_corpus_emb):
    x = scifact_corpus_emb[:500]
    _lancedb_table(tmp_path / "db", x, parts=1)
    uri = str(tmp_path / "db" / "docs.lance")
    with pytest.raises(InvalidParameterError):
        compress_table(uri, progress=False)
    with pytest.raises(InvalidParameterError):
        compress_table(uri, codec="sq:bits=8", target_recall=0.9)
    with pytest.raises(InvalidParameterError):
        compress_table(uri, codec="sq:bits=8", drop_float=True)
    with pytest.raises(InvalidInputError, match="no vector column"):
        compress_table(uri, codec="sq:bits=8", column="emb", progress=False)
    with pytest.raises(InvalidInputError, match="no id column"):
        compress_table(uri, codec="sq:bits=8", id_column="key", progress=False)
    with pytest.raises(InvalidInputError, match="fixed-size float"):
        compress_table(uri, codec="sq:bits=8", column="text", id_column="id", progress=False)
    with pytest.raises(NotFoundError):
        compress_table(str(tmp_path / "db"), table="nope", codec="sq:bits=8")
    with pytest.raises(NotFoundError):
        compress_table(str(tmp_path / "missing.lance"), codec="sq:bits=8")
    assert cli_main(["compress", uri, "--codec", "sq:bits=8", "--storage-option", "x"]) == 2
    nan = pa.table({"id": [0, 1], "vector": pa.FixedSizeListArray.from_arrays(
        pa.array([0.1, float("nan"), 0.3, 0.4], pa.float32()), 2)})
    lance.write_dataset(nan, str(tmp_path / "nan.lance"))
    with pytest.raises(InvalidInputError):
        compress_table(str(tmp_path / "nan.lance"), codec="sq:bits=8", sample=300,
                       progress=False)
    assert lance.dataset(str(tmp_path / "nan.lance")).version == 1


def test_table_with_a_dropped_column(tmp_path, scifact_corpus_emb):
    # Field ids with a gap (a column dropped earlier): metadata lands in a second commit.
    x = scifact_corpus_emb[:1200]
    uri = str(tmp_path / "gap.lance")
    ds = lance.write_dataset(pa.table({
        "tmp": np.arange(len(x)), "id": [f"d{i}" for i in range(len(x))],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])}), uri)
    ds.drop_columns(["tmp"])
    res = compress_table(uri, codec="sq:bits=8", mode="compressed", progress=False)
    ct = open_table(uri)
    assert res.rows == 1200 and ct.meta.id_type == "string" and ct.meta.payload == []
    assert ct.search(x[9]).limit(1).to_list()[0]["id"] == "d9"
    assert not list((Path(uri) / "_lance_spiral").glob("compress-v*"))


def test_compress_on_s3(s3, scifact_corpus_emb, capsys):  # noqa: F811
    prefix, opts = s3
    x = scifact_corpus_emb[:1500]
    db = lancedb.connect(prefix, storage_options=opts)
    rows = [{"id": i, "vector": x[i], "text": f"doc {i}"} for i in range(len(x))]
    t = db.create_table("docs", rows[:800])
    t.add(rows[800:])
    code = cli_main(["-q", "compress", prefix, "--table", "docs", "--codec", "sq:bits=8",
                     "--mode", "compressed", "--drop-float",
                     *[f"--storage-option={k}={v}" for k, v in opts.items()]])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert opts["aws_secret_access_key"] not in out.out + out.err
    uri = f"{prefix}/docs.lance"
    ct = open_table(uri, storage_options=opts)
    assert len(ct) == 1500 and "vector" not in ct.schema.names
    assert ct.search(x[21]).limit(1).to_list()[0]["id"] == 21
    m = re.search(r"bytes ([\d,]+) -> ([\d,]+)", out.out)
    assert m is not None, out.out
    before, after = (int(g.replace(",", "")) for g in m.groups())
    assert after < 0.5 * before
    assert len(lance.dataset(uri, storage_options=opts).versions()) == 1
