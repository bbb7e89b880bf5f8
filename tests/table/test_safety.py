"""Safety: killed writers, concurrent readers, newer formats refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import lance
import numpy as np
import pytest

from lance_spiral.errors import CorruptDataError, FormatVersionError
from lance_spiral.table import create_table, open_table
from lance_spiral.table.meta import META_KEY
from tests.support.tables import rows

ROOT = Path(__file__).resolve().parents[2]


def test_killed_writer_leaves_previous_version(tmp_path, docs):
    uri = str(tmp_path / "t.lance")
    t = create_table(uri, docs, progress=False)
    v = t.version
    data_dir = tmp_path / "t.lance" / "data"
    files_before = set(data_dir.iterdir())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = Path(__file__).parents[1] / "support" / "writer_script.py"
    proc = subprocess.Popen([sys.executable, str(script), "killed", uri],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "WRITING"
        deadline = time.monotonic() + 60
        while set(data_dir.iterdir()) == files_before and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert set(data_dir.iterdir()) - files_before, "the writer was killed before writing data"
    again = open_table(uri)
    assert again.version == v and again.count_rows() == 2000
    assert again.search(docs["vector"][4]).limit(1).to_list()[0]["id"] == "doc4"
    again.add(rows(docs["vector"][:2], start=5000))
    assert open_table(uri).count_rows() == 2002


def test_concurrent_readers_see_whole_commits(tmp_path, docs, scifact_corpus_emb):
    uri = str(tmp_path / "t.lance")
    t = create_table(uri, docs, progress=False)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                r = open_table(uri)
                n = r.count_rows()
                seen.append(n)
                hits = r.search(scifact_corpus_emb[1]).limit(3).to_list()
                assert hits[0]["id"] == "doc1"
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(8):
            t.add(rows(scifact_corpus_emb[2000 + 50 * i: 2050 + 50 * i], start=2000 + 50 * i))
    finally:
        stop.set()
        th.join(timeout=60)
    assert not errors, errors
    assert seen and all((n - 2000) % 50 == 0 for n in seen)
    assert open_table(uri).count_rows() == 2400


def _rewrite_meta(uri: str, mutate) -> None:
    ds = lance.dataset(uri)
    meta = json.loads(ds.schema.metadata[META_KEY])
    mutate(meta)
    ds.update_schema_metadata({META_KEY.decode(): json.dumps(meta)}, replace=True)


def test_newer_format_is_refused(tmp_path, docs):
    uri = str(tmp_path / "t.lance")
    create_table(uri, rows(docs["vector"][:3]))
    _rewrite_meta(uri, lambda m: m.update(format_version=99))
    with pytest.raises(FormatVersionError, match="format version 99"):
        open_table(uri)
    assert open_table(uri, version=1).count_rows() == 3


def test_corrupt_meta_and_missing_side_file(tmp_path, docs):
    uri = str(tmp_path / "t.lance")
    t = create_table(uri, rows(docs["vector"][:3]))
    name = t.meta.codec_file
    (tmp_path / "t.lance" / "_lance_spiral" / name).unlink()
    with pytest.raises(CorruptDataError, match="missing"):
        open_table(uri).search(np.ones(384, np.float32)).to_list()
    _rewrite_meta(uri, lambda m: m.update(format_version="x"))
    with pytest.raises(CorruptDataError):
        open_table(uri)
