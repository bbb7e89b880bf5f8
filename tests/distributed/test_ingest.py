"""Distributed ingest on a local Ray cluster: one commit, same rows and codes as create_table."""

from __future__ import annotations

import json
import os

import lance
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from lance_spiral.arrow import codes_of
from lance_spiral.distributed import ingest
from lance_spiral.embed.approximator import default_model_dir, shared_approximator
from lance_spiral.errors import InvalidInputError, NotFoundError, TableError
from lance_spiral.table import create_table, open_table
from tests.support.s3 import s3, s3_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _rows(x: np.ndarray, start: int = 0) -> pa.Table:
    ids = np.arange(start, start + len(x))
    return pa.table({"id": ids, "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(x.reshape(-1)), x.shape[1]), "year": 1990 + ids % 30,
        "title": [f"title {i}" for i in ids]})


def _same_table(a, b) -> None:
    """Same rows (by id) with the same payload and the same codes, same metadata."""
    ta = a.to_arrow().sort_by("id")
    tb = b.to_arrow().sort_by("id")
    assert ta.schema == tb.schema
    assert ta.schema.metadata == tb.schema.metadata
    for name in ta.column_names:
        ca, cb = ta.column(name), tb.column(name)
        if name.endswith(("_codes", "_bits")):
            assert np.array_equal(codes_of(ca), codes_of(cb)), name
        else:
            assert ca.equals(cb), name


def test_parquet_ingest_into_s3_equals_create_table(tmp_path, s3, scifact_corpus_emb):  # noqa: F811
    prefix, opts = s3  # the moto S3 server on 127.0.0.1: workers write there too
    x = scifact_corpus_emb[:3000]
    tbl = _rows(x)
    pq.write_table(tbl.slice(0, 1800), tmp_path / "a.parquet")
    pq.write_table(tbl.slice(1800), tmp_path / "b.parquet")
    uri = f"{prefix}/ray.lance"
    t = ingest([tmp_path / "a.parquet", tmp_path / "b.parquet"], uri, batch_size=1000,
               num_workers=2, storage_options=opts)
    assert t.version == 1 and len(t) == 3000  # one commit
    assert len(lance.dataset(uri, storage_options=opts).get_fragments()) == 3
    ref = create_table(str(tmp_path / "one.lance"), tbl, progress=False)
    _same_table(t, ref)
    # appending to the existing table uses its codec, again in one commit
    more = _rows(scifact_corpus_emb[3000:3600], start=3000)
    pq.write_table(more, tmp_path / "c.parquet")
    t2 = ingest(str(tmp_path / "c.parquet"), uri, batch_size=300, storage_options=opts)
    assert t2.version == 2 and len(t2) == 3600
    ref.add(more)
    _same_table(t2, ref)


def test_jsonl_texts_embedded_by_workers(tmp_path, shared_data):
    if not (default_model_dir() / "config.json").exists():
        pytest.skip(f"the shipped approximator is not in this tree yet ({default_model_dir()})")
    docs = [json.loads(line) for line in
            (shared_data / "wordnet" / "texts.jsonl").read_text().splitlines()[:1200]]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"id": d["id"], "text": d["text"]}) for d in docs))
    uri = str(tmp_path / "texts.lance")
    t = ingest(str(path), uri, embed="default", batch_size=400, num_workers=2)
    assert t.version == 1 and len(t) == 1200 and t.meta.payload == ["text"]
    vecs = shared_approximator().embed([d["text"] for d in docs])
    ref = create_table(str(tmp_path / "one.lance"), {
        "id": [d["id"] for d in docs], "text": [d["text"] for d in docs], "vector": vecs},
        progress=False)
    _same_table(t, ref)
    hit = t.search(vecs[17]).limit(1).to_list()[0]
    assert hit["id"] == docs[17]["id"]


def test_killed_worker_commits_nothing(tmp_path, scifact_corpus_emb):
    uri = str(tmp_path / "kill.lance")
    create_table(uri, _rows(scifact_corpus_emb[:1200]), progress=False)

    def die_on_row_2500(batch: pa.Table) -> pa.Table:
        if 2500 in batch.column("id").to_pylist():
            os.kill(os.getpid(), 9)  # the worker process dies mid-job
        return batch

    src = ray.data.from_arrow(_rows(scifact_corpus_emb[1200:3000], start=1200)) \
        .map_batches(die_on_row_2500, batch_format="pyarrow", batch_size=300, max_retries=0)
    with pytest.raises(TableError, match="nothing was committed: WorkerCrashedError"):
        ingest(src, uri, batch_size=300)
    ds = lance.dataset(uri)
    assert ds.version == 1 and ds.count_rows() == 1200  # no partial version
    assert len(open_table(uri).search(scifact_corpus_emb[5]).limit(3).to_list()) == 3


def test_writer_killed_mid_write_is_retried_without_duplicates(tmp_path, scifact_corpus_emb):
    x = scifact_corpus_emb[:2400]
    marker = tmp_path / "died-once"

    class DiesOnceOnText1700:
        """Embeds "t<i>" as row i; the first worker to see "t1700" dies (SIGKILL) in the middle
        of the write job, after it may have written other fragments."""

        def embed(self, texts: list[str]) -> np.ndarray:
            if "t1700" in texts and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), 9)
            return x[[int(t[1:]) for t in texts]]

    texts = {"id": np.arange(1200, 2400), "text": [f"t{i}" for i in range(1200, 2400)]}
    uri = str(tmp_path / "retry.lance")
    create_table(uri, {"id": np.arange(1200), "text": [f"t{i}" for i in range(1200)],
                       "vector": x[:1200]}, progress=False)
    t = ingest(ray.data.from_arrow(pa.table(texts)), uri, embed=DiesOnceOnText1700(),
               batch_size=200)
    assert marker.exists()  # a worker did die
    ref = create_table(str(tmp_path / "ref.lance"), {
        "id": np.arange(1200), "text": [f"t{i}" for i in range(1200)], "vector": x[:1200]},
        progress=False)
    ref.add({**texts, "vector": x[1200:]})
    assert t.version == 2 and len(t) == 2400  # every row once: the retry wrote its own
    _same_table(t, ref)


def test_bad_sources(tmp_path, scifact_corpus_emb):
    with pytest.raises(NotFoundError):
        ingest(str(tmp_path / "missing.parquet"), str(tmp_path / "x.lance"))
    (tmp_path / "a.csv").write_text("id,vector\n")
    with pytest.raises(InvalidInputError, match="Parquet"):
        ingest(str(tmp_path / "a.csv"), str(tmp_path / "x.lance"))
    bad = _rows(scifact_corpus_emb[:50]).drop_columns(["id"])
    pq.write_table(bad, tmp_path / "noid.parquet")
    with pytest.raises(InvalidInputError, match="no id column"):
        ingest(str(tmp_path / "noid.parquet"), str(tmp_path / "x.lance"))
    assert not (tmp_path / "x.lance" / "_versions").exists()


def test_repeated_ids_refused_before_writing(tmp_path, scifact_corpus_emb):
    x = scifact_corpus_emb[:600]
    rows = _rows(x)
    ids = rows.column("id").to_numpy().copy()
    ids[[17, 401]] = 5  # id 5 three times within the source
    pq.write_table(rows.set_column(0, "id", pa.array(ids)), tmp_path / "dup.parquet")
    new_uri = str(tmp_path / "new.lance")
    with pytest.raises(InvalidInputError, match=r"repeated in the source: 5 \(3x\)"):
        ingest(str(tmp_path / "dup.parquet"), new_uri)
    assert not os.path.exists(new_uri)  # no table, no side file

    uri = str(tmp_path / "old.lance")
    create_table(uri, _rows(scifact_corpus_emb[:1200]), progress=False)
    overlap = _rows(scifact_corpus_emb[1190:1300], start=1190)  # ids 1190..1199 exist
    with pytest.raises(InvalidInputError, match="repeated in the source and the table: 11"):
        ingest(ray.data.from_arrow(overlap), uri)
    assert lance.dataset(uri).version == 1 and len(open_table(uri)) == 1200
    strings = overlap.set_column(0, "id", pa.array([str(i) for i in range(1190, 1300)]))
    with pytest.raises(InvalidInputError, match="is string, the table's ids are int64"):
        ingest(ray.data.from_arrow(strings), uri)
