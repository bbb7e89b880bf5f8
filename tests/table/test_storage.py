"""Tables on s3:// (a real S3 server: moto on 127.0.0.1) behave exactly as on a path.

Writes, side files, versions, restore, search, requantize; two processes adding at once lose no
row; the secret key never appears in reprs, errors, metadata, stored objects or logs.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lance_spiral.errors import InvalidInputError, NotFoundError
from lance_spiral.table import create_table, open_table
from tests.support.s3 import s3, s3_server  # noqa: F401  (fixtures)
from tests.support.tables import rows
from tests.support.writers import writers  # noqa: F401  (fixture)


def test_table_on_s3_like_on_a_path(s3, s3_server, scifact_corpus_emb, caplog, capfd):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    prefix, opts = s3
    secret = opts["aws_secret_access_key"]
    uri = f"{prefix}/docs.lance"
    emb = scifact_corpus_emb
    t = create_table(uri, rows(emb[:600]), fit_rows=500, storage_options=opts, progress=False)
    assert not t.meta.provisional and t.count_rows() == 600
    assert t.search(emb[7]).limit(1).to_list()[0]["id"] == "doc7"
    v1 = t.version
    assert t.add(rows(emb[600:650], start=600)) == 50
    assert t.upsert(rows(emb[650:660], start=650) + rows(emb[3000:3001], start=0)) == {
        "inserted": 10, "updated": 1}
    assert t.delete({"year": 1991}) == 22
    assert t.update({"year": 1992}, {"title": "changed"}) == 22
    t2 = open_table(uri, storage_options=opts)
    assert t2.count_rows() == 660 - 22 and t2.version == t.version
    assert t2.get(["doc3"]).to_pylist()[0]["id"] == "doc3"
    assert t2.search(emb[620]).limit(1).to_list()[0]["id"] == "doc620"
    # side files live in the bucket next to the data
    keys = [o["Key"] for page in s3_server.client().get_paginator("list_objects_v2").paginate(
        Bucket=s3_server.bucket, Prefix=uri.split("/", 3)[3]) for o in page.get("Contents", [])]
    assert any(k.endswith(".lscodec") and "/_lance_spiral/" in k for k in keys)
    assert any(k.endswith(".npz") for k in keys)
    assert t.disk_bytes() > 600 * 384
    # versions and restore
    old = t.checkout(v1)
    assert old.count_rows() == 600
    t.restore(v1)
    assert t.count_rows() == 600 and open_table(uri, storage_options=opts).count_rows() == 600
    report = t.requantize("sq:bits=4", sample=400)
    assert report["code_bytes"] == 192
    assert open_table(uri, storage_options=opts).search(emb[9]).limit(1).to_list()[0]["id"] == \
        "doc9"
    # secrets: never in reprs, errors, table metadata, stored objects, logs
    outputs = [repr(t), repr(t2), repr(t._target), repr(t._side), str(t.meta.to_json()),
               str(t.dataset.schema.metadata), str(report)]
    with pytest.raises(NotFoundError) as missing:
        open_table(f"{prefix}/missing.lance", storage_options=opts)
    with pytest.raises(InvalidInputError) as bad_sql:
        t.count_rows(sql="nope >>> 1")
    outputs += [str(missing.value), repr(missing.value), str(bad_sql.value)]
    client = s3_server.client()
    for key in keys:
        outputs.append(client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read().decode(
            "latin-1"))
    out, err = capfd.readouterr()
    outputs += [out, err, caplog.text]
    leaks = [o[:80] for o in outputs if secret in o]
    assert not leaks, leaks


def test_two_processes_adding_to_one_s3_table_lose_no_row(s3, writers,  # noqa: F811
                                                          scifact_corpus_emb):
    prefix, opts = s3
    uri = f"{prefix}/shared.lance"
    emb = scifact_corpus_emb
    create_table(uri, {"id": [f"r{i}" for i in range(100)], "vector": emb[:100],
                       "n": np.arange(100)}, fit_rows=200, storage_options=opts, progress=False)
    # both adds cross fit_rows: two whole-table rewrites race on S3, one is rebuilt
    cmds = [{"op": "add", "uri": uri, "options": opts,
             "rows": [[100 + p * 100, 200 + p * 100]]} for p in range(2)]
    assert writers.run(cmds) == [[100], [100]]
    t = open_table(uri, storage_options=opts)
    ids = t.to_arrow().column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 300 and set(ids) == {f"r{i}" for i in range(300)}
    assert not t.meta.provisional
    tbl = t.to_arrow()
    dec = t.decode_column(tbl.column(t.meta.codes_column))
    ref = emb[tbl.column("n").to_numpy()]
    cos = (dec * ref).sum(1) / np.linalg.norm(dec, axis=1) / np.linalg.norm(ref, axis=1)
    assert float(cos.min()) > 0.99
