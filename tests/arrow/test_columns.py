"""Arrow extension type for codes: IPC, Parquet, Lance, LanceDB (new process), bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

import lance_spiral.arrow as la
from lance_spiral.arrow.params import forget_codec
from lance_spiral.codecs import Codec, make_codec
from lance_spiral.errors import (
    CorruptDataError,
    DimensionError,
    DTypeError,
    FormatVersionError,
    InvalidParameterError,
    NonFiniteError,
    NotFittedError,
    NotFoundError,
)

ROOT = Path(__file__).resolve().parents[2]


def _fitted(spec: str, x: np.ndarray) -> Codec:
    return make_codec(spec).fit(x)


@pytest.fixture(scope="module")
def vecs(scifact_corpus_emb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(scifact_corpus_emb[:600])


@pytest.fixture(scope="module", params=["sq:bits=8", "float16", "binary"])
def codec(request: pytest.FixtureRequest, vecs: np.ndarray) -> Codec:
    return _fitted(request.param, vecs)


@pytest.fixture(params=["list", "binary"])
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _expected(codec: Codec, vecs: np.ndarray) -> np.ndarray:
    return codec.decode(codec.encode(vecs))


def _same(got: np.ndarray, expected: np.ndarray) -> None:
    # Codes are compared bit-exactly elsewhere; decoding the same codes may differ in the last
    # float ulp (BLAS blocking in rotation-based codecs).
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_array_decode_and_codes(codec: Codec, vecs: np.ndarray, storage: str) -> None:
    arr = la.encoded_array(codec, vecs, storage=storage)
    assert isinstance(arr, la.EncodedVectorArray)
    assert isinstance(arr.type, la.EncodedVectorType)
    assert arr.type.code_bytes == codec.code_bytes and arr.type.dim == vecs.shape[1]
    np.testing.assert_array_equal(arr.codes(), codec.encode(vecs))
    _same(arr.decode(), _expected(codec, vecs))
    # slices keep their offset
    _same(arr[17:40].decode(), _expected(codec, vecs[17:40]))
    # wrapping existing codes gives the same array
    again = la.encoded_array(codec, codec.encode(vecs), storage=storage)
    assert again.type == arr.type and again.equals(arr)
    assert arr.codec() is codec or arr.codec().spec == codec.spec


def test_ipc_file_and_stream(codec: Codec, vecs: np.ndarray, storage: str, tmp_path: Path) -> None:
    table = pa.table({"id": np.arange(len(vecs)),
                      "code": la.encoded_array(codec, vecs, storage=storage)})
    path = tmp_path / "t.arrow"
    with ipc.new_file(path, table.schema) as w:
        w.write_table(table)
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    for back in (ipc.open_file(path).read_all(), ipc.open_stream(sink.getvalue()).read_all()):
        col = back.column("code")
        assert isinstance(col.type, la.EncodedVectorType)
        assert col.type == table.column("code").type
        _same(la.decode_column(col), _expected(codec, vecs))


def test_parquet(codec: Codec, vecs: np.ndarray, storage: str, tmp_path: Path) -> None:
    table = pa.table({"code": la.encoded_array(codec, vecs, storage=storage)})
    pq.write_table(table, tmp_path / "t.parquet")
    back = pq.read_table(tmp_path / "t.parquet")
    assert isinstance(back.column("code").type, la.EncodedVectorType)
    _same(la.decode_column(back.column("code")), _expected(codec, vecs))


def test_lance_write_reopen_take_filter(vecs: np.ndarray, storage: str, tmp_path: Path) -> None:
    import lance

    codec = _fitted("sq:bits=4", vecs)
    uri = tmp_path / "ds.lance"
    params_dir = tmp_path / "ds.params"
    arr = la.encoded_array(codec, vecs, params="ref", params_dir=params_dir, storage=storage)
    assert arr.type.params_ref is not None and (params_dir / arr.type.params_ref).is_file()
    table = pa.table({"id": np.arange(len(vecs), dtype=np.int64), "code": arr})
    lance.write_dataset(table.slice(0, 300), uri)
    lance.write_dataset(table.slice(300), uri, mode="append")
    ds = lance.dataset(uri)
    assert ds.count_rows() == len(vecs)
    assert isinstance(ds.schema.field("code").type, la.EncodedVectorType)
    expected = _expected(codec, vecs)
    full = ds.to_table()
    _same(la.decode_column(full.column("code")), expected)
    rows = [5, 599, 301, 0]
    took = ds.take(rows, columns=["code"])
    _same(la.decode_column(took.column("code")), expected[rows])
    filt = ds.to_table(filter="id >= 550 AND id < 560")
    got = la.decode_column(filt.column("code"))
    _same(got, expected[filt.column("id").to_numpy()])
    assert len(got) == 10


_READER = """
import json, sys
import numpy as np
with_plugin = {with_plugin!r}
if with_plugin:
    import lance_spiral.arrow as la
import lancedb
db = lancedb.connect({db!r})
t = db.open_table("vecs")
tab = t.to_arrow().sort_by("id")
field = t.schema.field("code")
out = {{"n": tab.num_rows, "type": str(type(field.type).__name__)}}
if with_plugin:
    dec = la.decode_column(tab.column("code"))
    out["max_err"] = float(np.abs(dec - np.load({expected!r})).max())
    out["spec"] = field.type.spec
else:
    out["storage"] = str(field.type)
    md = field.metadata or {{}}
    out["ext_name"] = md.get(b"ARROW:extension:name", b"").decode()
    out["ext_meta"] = json.loads(md.get(b"ARROW:extension:metadata", b"{{}}").decode())
    flat = tab.column("code").combine_chunks().flatten().to_numpy()
    out["codes_equal"] = bool((flat.reshape(tab.num_rows, -1) == np.load({codes!r})).all())
print(json.dumps(out))
"""


def _run_reader(tmp_path: Path, with_plugin: bool) -> dict[str, Any]:
    script = textwrap.dedent(_READER).format(
        with_plugin=with_plugin,
        db=str(tmp_path / "db"), expected=str(tmp_path / "expected.npy"),
        codes=str(tmp_path / "codes.npy"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def test_lancedb_create_add_reopen_new_process(vecs: np.ndarray, tmp_path: Path) -> None:
    import lancedb

    codec = _fitted("sq:bits=8", vecs)
    ids = np.arange(len(vecs), dtype=np.int64)
    first = pa.table({"id": ids[:400], "code": la.encoded_array(codec, vecs[:400])})
    second = pa.table({"id": ids[400:], "code": la.encoded_array(codec, vecs[400:])})
    db = lancedb.connect(tmp_path / "db")
    t = db.create_table("vecs", first)
    t.add(second)
    assert t.count_rows() == len(vecs)
    np.save(tmp_path / "expected.npy", _expected(codec, vecs))
    np.save(tmp_path / "codes.npy", codec.encode(vecs))

    plugged = _run_reader(tmp_path, with_plugin=True)
    assert plugged["n"] == len(vecs)
    assert plugged["type"] == "EncodedVectorType"
    assert plugged["max_err"] <= 1e-6
    assert plugged["spec"] == codec.spec

    bare = _run_reader(tmp_path, with_plugin=False)
    assert bare["n"] == len(vecs)
    assert bare["storage"] == f"fixed_size_list<item: uint8>[{codec.code_bytes}]"
    assert bare["ext_name"] == la.EXTENSION_NAME
    assert bare["ext_meta"]["codec"] == codec.name
    assert bare["ext_meta"]["code_bytes"] == codec.code_bytes
    assert bare["codes_equal"] is True


# ------------------------------------------------------------------------------- bad input
def _meta(codec: Codec) -> dict[str, Any]:
    return la.encoded_type(codec).metadata


def _deserialize(meta: Any, storage: pa.DataType) -> la.EncodedVectorType:
    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    return la.EncodedVectorType.__arrow_ext_deserialize__(storage, raw)


def test_bad_metadata(vecs: np.ndarray) -> None:
    codec = _fitted("sq:bits=8", vecs)
    meta = _meta(codec)
    st = pa.list_(pa.uint8(), codec.code_bytes)
    assert _deserialize(meta, st) == la.encoded_type(codec)
    with pytest.raises(CorruptDataError, match="UTF-8 JSON"):
        _deserialize(b"\xff\xfe not json", st)
    with pytest.raises(CorruptDataError, match="JSON object"):
        _deserialize([1, 2], st)
    with pytest.raises(FormatVersionError, match="format version 99"):
        _deserialize({**meta, "version": 99}, st)
    with pytest.raises(CorruptDataError, match="code_bytes"):
        _deserialize({k: v for k, v in meta.items() if k != "code_bytes"}, st)
    with pytest.raises(CorruptDataError, match="storage width"):
        _deserialize(meta, pa.list_(pa.uint8(), codec.code_bytes + 1))
    with pytest.raises(CorruptDataError, match="storage must be"):
        _deserialize(meta, pa.list_(pa.float32(), codec.code_bytes))
    with pytest.raises(CorruptDataError, match="exactly one"):
        _deserialize({**meta, "params_ref": "x.lscodec"}, st)
    with pytest.raises(CorruptDataError, match="plain file name"):
        _deserialize({k: v for k, v in meta.items() if k != "params"}
                     | {"params_ref": "../../etc/passwd.lscodec"}, st)
    bad_b64 = _deserialize({**meta, "params": "!!not base64!!", "sha256": "1" * 64}, st)
    with pytest.raises(CorruptDataError, match="base64"):
        bad_b64.codec()
    tampered = _deserialize({**meta, "sha256": "2" * 64}, st)
    with pytest.raises(CorruptDataError, match="SHA-256"):
        tampered.codec()


def test_future_version_through_ipc_raises(vecs: np.ndarray) -> None:
    codec = _fitted("sq:bits=8", vecs)
    arr = la.encoded_array(codec, vecs[:5])
    meta = arr.type.metadata | {"version": 7}
    field = pa.field("code", arr.type.storage_type, metadata={
        "ARROW:extension:name": la.EXTENSION_NAME,
        "ARROW:extension:metadata": json.dumps(meta)})
    table = pa.Table.from_arrays([arr.storage], schema=pa.schema([field]))
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    with pytest.raises(FormatVersionError):
        ipc.open_stream(sink.getvalue()).read_all()


def test_bad_inputs(vecs: np.ndarray, tmp_path: Path) -> None:
    codec = _fitted("sq:bits=8", vecs)
    unfitted = type(codec)(**codec.params())
    with pytest.raises(NotFittedError):
        la.encoded_array(unfitted, vecs)
    with pytest.raises(DTypeError, match="Codec"):
        la.encoded_array("sq:bits=8", vecs)  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match="dtype int64"):
        la.encoded_array(codec, np.ones((3, vecs.shape[1]), dtype=np.int64))
    with pytest.raises(DimensionError):
        la.encoded_array(codec, vecs[:, :100])
    bad = vecs[:4].copy()
    bad[1, 3] = np.nan
    with pytest.raises(NonFiniteError):
        la.encoded_array(codec, bad)
    with pytest.raises(CorruptDataError, match="truncated"):
        la.encoded_array(codec, np.zeros((2, codec.code_bytes - 1), dtype=np.uint8))
    with pytest.raises(InvalidParameterError, match="params"):
        la.encoded_array(codec, vecs, params="side")
    with pytest.raises(InvalidParameterError, match="storage"):
        la.encoded_array(codec, vecs, storage="blob")
    empty = la.encoded_array(codec, np.zeros((0, vecs.shape[1]), dtype=np.float32))
    assert len(empty) == 0 and empty.decode().shape == (0, vecs.shape[1])
    other = _fitted("float16", vecs)
    arr = la.encoded_array(codec, vecs[:10])
    if other.name != codec.name:
        with pytest.raises(InvalidParameterError, match="does not match"):
            arr.decode(other)
    with pytest.raises(DTypeError, match=r"not lance_spiral\.encoded"):
        la.decode_column(pa.array([1, 2, 3]))
    with_null = pa.array([None], type=arr.type.storage_type)
    with pytest.raises(Exception, match="null"):
        la.codes_of(with_null)


def test_missing_ref_file(vecs: np.ndarray, tmp_path: Path) -> None:
    codec = _fitted("sq:bits=6", vecs)
    typ = la.encoded_type(codec, params="ref")
    # A fresh process would not have the codec cached: simulate by deserialising metadata
    # with a different checksum-free lookup (clear this codec from the cache).
    forget_codec(typ.params_sha256)
    with pytest.raises(NotFoundError, match="not found"):
        typ.codec()
    path = la.write_params(codec, tmp_path / "params")
    forget_codec(typ.params_sha256)
    assert typ.codec(base_dir=path.parent).spec == codec.spec


def test_register_guarded() -> None:
    assert la.is_registered()
    assert la.register() is False
    assert la.unregister() is True
    assert la.unregister() is False
    assert la.register() is True
    assert la.is_registered()
