"""The corrupt-file matrix: each kind of table file edited or truncated on a real table.

Every open / search / add / get then either works correctly or raises the library's error naming
the file (CorruptDataError, FormatVersionError) -- never a raw BadZipFile, ArrowInvalid, Rust
panic, a misleading NotFoundError, or a wrong result.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path

import lance
import numpy as np
import pytest

from lance_spiral.errors import CorruptDataError, FormatVersionError, NotFoundError
from lance_spiral.table import create_table, open_table
from lance_spiral.table.meta import META_KEY


@pytest.fixture(scope="module")
def original(tmp_path_factory, scifact_corpus_emb):
    uri = str(tmp_path_factory.mktemp("orig") / "t.lance")
    emb = scifact_corpus_emb
    t = create_table(uri, {"id": [f"d{i}" for i in range(1200)], "vector": emb[:1200],
                           "year": np.arange(1200) % 30}, progress=False)
    t.add({"id": ["x"], "vector": emb[1200:1201], "year": [3]})
    return uri


def _copy(original: str, tmp_path) -> str:
    uri = str(tmp_path / "t.lance")
    shutil.copytree(original, uri)
    return uri


def _truncate(path: str, keep: float = 0.5) -> None:
    data = Path(path).read_bytes()
    with open(path, "wb") as fh:
        fh.write(data[: int(len(data) * keep)])


def _edit_byte(path: str, at: int = 40) -> None:
    data = bytearray(Path(path).read_bytes())
    data[at] ^= 0x01
    with open(path, "wb") as fh:
        fh.write(bytes(data))


def _side(uri: str, kind: str) -> str:
    meta = open_table(uri).meta
    name = meta.codec_file if kind == "codec" else meta.aux_file
    return os.path.join(uri, "_lance_spiral", str(name))


def _latest_manifest(uri: str) -> str:
    def version(p: str) -> int:
        n = int(os.path.basename(p).split(".")[0])
        return 2**64 - 1 - n if n > 2**63 else n
    return max(glob.glob(os.path.join(uri, "_versions", "*.manifest")), key=version)


def _rewrite_meta(uri: str, mutate) -> None:
    ds = lance.dataset(uri)
    meta = json.loads(ds.schema.metadata[META_KEY])
    mutate(meta)
    ds.update_schema_metadata({META_KEY.decode(): json.dumps(meta)}, replace=True)


def _ops(uri: str, emb: np.ndarray):
    yield "open", lambda: open_table(uri)
    yield "search", lambda: open_table(uri).search(emb[5]).limit(3).to_list()
    yield "get", lambda: open_table(uri).get(["d7"], with_vectors=True)
    yield "add", lambda: open_table(uri).add({"id": ["new"], "vector": emb[1300:1301],
                                              "year": [1]})


CASES = {
    # file kind -> (damage, error expected from each op (None: must work), text in the message)
    "codec edited": (lambda u: _edit_byte(_side(u, "codec")),
                     {"search": CorruptDataError, "get": CorruptDataError,
                      "add": CorruptDataError}, ".lscodec"),
    "codec truncated": (lambda u: _truncate(_side(u, "codec")),
                        {"search": CorruptDataError, "get": CorruptDataError,
                         "add": CorruptDataError}, ".lscodec"),
    "codec deleted": (lambda u: os.remove(_side(u, "codec")),
                      {"search": CorruptDataError, "get": CorruptDataError,
                       "add": CorruptDataError}, ".lscodec"),
    "aux truncated": (lambda u: _truncate(_side(u, "aux")),
                      {"search": CorruptDataError, "add": CorruptDataError}, ".npz"),
    "aux edited": (lambda u: _edit_byte(_side(u, "aux"), at=-20),
                   {"search": CorruptDataError, "add": CorruptDataError}, ".npz"),
    "codec_file outside the table": (
        lambda u: _rewrite_meta(u, lambda m: m.update(codec_file="../../x.lscodec")),
        dict.fromkeys(("open", "search", "get", "add"), CorruptDataError), "../../x"),
    "metadata names a missing column": (
        lambda u: _rewrite_meta(u, lambda m: m.update(payload=["year", "gone"])),
        dict.fromkeys(("open", "search", "get", "add"), CorruptDataError), "'gone'"),
    "newer format": (lambda u: _rewrite_meta(u, lambda m: m.update(format_version=99)),
                     dict.fromkeys(("open", "search", "get", "add"), FormatVersionError),
                     "format version 99"),
    "manifest truncated": (lambda u: _truncate(_latest_manifest(u)),
                           dict.fromkeys(("open", "search", "get", "add"), CorruptDataError),
                           ".manifest"),
    "manifest emptied": (lambda u: _truncate(_latest_manifest(u), 0.0),
                         dict.fromkeys(("open", "search", "get", "add"), CorruptDataError),
                         ".manifest"),
    "data file truncated": (
        lambda u: [_truncate(p) for p in glob.glob(os.path.join(u, "data", "*.lance"))],
        {"search": CorruptDataError, "get": CorruptDataError}, ".lance ("),
}


@pytest.mark.parametrize("case", list(CASES))
def test_corrupt_file_matrix(original, tmp_path, scifact_corpus_emb, case):
    uri = _copy(original, tmp_path)
    damage, expect, text = CASES[case]
    damage(uri)
    for op, run in _ops(uri, scifact_corpus_emb):
        err = expect.get(op)
        if err is None:
            run()
            continue
        with pytest.raises(err) as info:
            run()
        assert text in str(info.value), (op, str(info.value))


def test_untouched_copy_works_and_missing_table_is_not_found(original, tmp_path,
                                                             scifact_corpus_emb):
    uri = _copy(original, tmp_path)
    hits = open_table(uri).search(scifact_corpus_emb[5]).limit(1).to_list()
    assert hits[0]["id"] == "d5"
    with pytest.raises(NotFoundError, match="no lance table"):
        open_table(str(tmp_path / "nothing.lance"))
    with pytest.raises(NotFoundError, match="version 99"):
        open_table(uri, version=99)
