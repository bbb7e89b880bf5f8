"""Side files of a table: content-addressed, checked against their name, confined to the table."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest

from lance_spiral.arrow.sidefiles import SIDE_DIR, SideStore, filesystem, side_file_name
from lance_spiral.codecs import make_codec
from lance_spiral.errors import CorruptDataError, InvalidParameterError


@pytest.fixture()
def store(tmp_path) -> SideStore:
    return SideStore(str(tmp_path / "t.lance"))


def test_codec_and_arrays_round_trip(store, scifact_corpus_emb):
    codec = make_codec("sq:bits=8", metric="cosine").fit(scifact_corpus_emb[:500])
    name = store.put_codec(codec)
    assert side_file_name(name) and name.endswith(".lscodec")
    assert store.put_codec(codec) == name  # same content, same file
    again = SideStore(store.root.rsplit("/", 1)[0])
    x = scifact_corpus_emb[:20]
    assert np.array_equal(again.get_codec(name).encode(x), codec.encode(x))
    arrays = {"centre": x.mean(0), "centroids": x[:4]}
    aname = store.put_arrays(arrays)
    got = SideStore(store.root.rsplit("/", 1)[0]).get_arrays(aname)
    assert set(got) == set(arrays) and np.array_equal(got["centroids"], x[:4])
    assert store.total_bytes() > 0


@pytest.mark.parametrize("name", ["../../x.lscodec", "/etc/passwd", "a/b.npz", "x.lscodec",
                                  "arrays-zz.npz", "", None, 3, "0" * 32 + ".lscodec/../y"])
def test_names_outside_the_folder_are_refused(store, name):
    with pytest.raises(CorruptDataError, match="not a lance-spiral side file"):
        store.get_codec(name)
    with pytest.raises(CorruptDataError):
        store.get_arrays(name)


def test_edited_or_truncated_files_fail_their_hash(store, scifact_corpus_emb):
    codec = make_codec("sq:bits=8", metric="cosine").fit(scifact_corpus_emb[:200])
    name = store.put_codec(codec)
    path = os.path.join(store.root, name)
    data = Path(path).read_bytes()
    # the container's own CRC would catch this too; the name check comes first and names it
    edited = data.replace(b'"bits":8', b'"bits":4') if b'"bits":8' in data else \
        data[:50] + bytes([data[50] ^ 1]) + data[51:]
    with open(path, "wb") as fh:
        fh.write(edited)
    with pytest.raises(CorruptDataError, match="does not match its content hash"):
        SideStore(store.root.rsplit("/", 1)[0]).get_codec(name)
    aname = store.put_arrays({"centre": np.ones(4, np.float32)})
    apath = os.path.join(store.root, aname)
    with open(apath, "r+b") as fh:
        fh.truncate(os.path.getsize(apath) // 2)
    with pytest.raises(CorruptDataError, match=aname):
        SideStore(store.root.rsplit("/", 1)[0]).get_arrays(aname)
    os.remove(apath)
    with pytest.raises(CorruptDataError, match="missing"):
        SideStore(store.root.rsplit("/", 1)[0]).get_arrays(aname)


def test_filesystem_from_lance_storage_options():
    fs, path = filesystem("/tmp/x.lance")
    assert isinstance(fs, pafs.LocalFileSystem) and path == "/tmp/x.lance"
    secret = "s3cr3t-value-never-shown"
    opts = {"aws_endpoint": "http://127.0.0.1:9", "allow_http": "true", "aws_region": "eu-west-1",
            "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": secret}
    fs, path = filesystem("s3://bucket/dir/t.lance", opts)
    assert isinstance(fs, pafs.S3FileSystem) and path == "bucket/dir/t.lance"
    assert fs.region == "eu-west-1"
    store = SideStore("s3://bucket/dir/t.lance", storage_options=opts)
    assert store.root == f"bucket/dir/t.lance/{SIDE_DIR}"
    assert secret not in repr(store) and secret not in repr(store.fs)
    with pytest.raises(InvalidParameterError, match="s3://"):
        filesystem("gs://bucket/t.lance", {"token": "x"})
    with pytest.raises(InvalidParameterError, match="dict of str"):
        filesystem("s3://bucket/t.lance", {"aws_region": 3})  # type: ignore[dict-item]
