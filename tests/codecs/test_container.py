"""The codec container is checked whole: every region of every codec kind's bytes, corrupted.

Codecs are fitted on real SciFact embeddings. Container-v1 files written by the code of commit
36e0385 (tests/codecs/data, made by make_v1_files.py) must still load and give the same codes.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.codecs import Codec, get_codec_class, load_codec, make_codec
from lance_spiral.codecs.container import MAGIC, MAGIC_V1, pack_container, read_container
from lance_spiral.errors import CorruptDataError, FormatVersionError

DATA = Path(__file__).resolve().parent / "data"
KINDS = {
    "sq": "sq:bits=8",
    "binary": "binary:bits=2",
    "float16": "float16",
    "lossless": "lossless",
    "pq": "pq:m=8,bits=8,n_iter=2",
    "rq": "rq:nlist=8,m=8,n_iter=2",
    "spiral": "spiral:n_subspaces=8,anchor_stride=64,n_iter=2",
    "spiral_ratio": "spiral:compression_ratio=0.9,metric=l2,n_iter=2",
}  # OPQ's rotation array is covered by the v1 files (fitting OPQ here would cost a minute)
V1_KINDS = ["sq", "binary", "float16", "lossless", "pq", "rq", "spiral", "spiral_ratio"]
PREFIX = len(MAGIC) + 12  # magic, header_len, payload_len


@pytest.fixture(scope="module")
def fitted(scifact_corpus_emb: np.ndarray) -> dict[str, Codec]:
    x = scifact_corpus_emb[:300]
    return {kind: make_codec(spec).fit(x) for kind, spec in KINDS.items()}


def _regions(blob: bytes) -> dict[str, tuple[int, int]]:
    hlen, plen = struct.unpack_from("<IQ", blob, len(MAGIC))
    h0, p0 = PREFIX, PREFIX + hlen
    return {"magic": (0, len(MAGIC)), "header_len": (len(MAGIC), len(MAGIC) + 4),
            "payload_len": (len(MAGIC) + 4, PREFIX), "header": (h0, p0),
            "payload": (p0, p0 + plen), "crc": (p0 + plen, len(blob))}


EXPECT = {"magic": r"magic|version", "header_len": r"truncated|padded", "payload_len":
          r"truncated|padded", "header": "CRC32", "payload": "CRC32", "crc": "CRC32"}


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_matrix(fitted: dict[str, Codec], kind: str) -> None:
    blob = fitted[kind].to_bytes()
    assert blob.startswith(MAGIC)
    assert load_codec(blob).spec == fitted[kind].spec
    for region, (lo, hi) in _regions(blob).items():
        if hi == lo:
            continue  # float16 has no payload
        for pos in sorted({lo, (lo + hi) // 2, hi - 1}):
            for mask in (0x01, 0x80, 0xFF):
                bad = bytearray(blob)
                bad[pos] ^= mask
                with pytest.raises((CorruptDataError, FormatVersionError),
                                   match=EXPECT[region]):
                    load_codec(bytes(bad))
        for cut in sorted({lo, (lo + hi) // 2, hi - 1}):
            with pytest.raises(CorruptDataError, match="truncated"):
                load_codec(blob[:cut])
    with pytest.raises(CorruptDataError, match="padded"):
        load_codec(blob + b"\0")
    with pytest.raises(CorruptDataError, match="truncated"):
        load_codec(blob[:-1])


def test_an_edited_parameter_in_the_header_fails_the_checksum(fitted: dict[str, Codec]) -> None:
    blob = fitted["sq"].to_bytes()
    assert blob.count(b'"bits":8') == 1
    with pytest.raises(CorruptDataError, match=r"CRC32.*header"):
        load_codec(blob.replace(b'"bits":8', b'"bits":4'))
    with pytest.raises(CorruptDataError, match="CRC32"):
        get_codec_class("sq").from_bytes(blob.replace(b'"bits":8', b'"bits":6'))


def test_newer_container_version_and_foreign_bytes() -> None:
    blob = make_codec("float16").fit(np.eye(4, dtype=np.float32)).to_bytes()
    with pytest.raises(FormatVersionError, match=r"version 3 .*upgrade"):
        load_codec(b"LSCODEC3" + blob[len(MAGIC):])
    for junk in (b"", b"LSCO", b"PK\x03\x04" + blob[4:], b"LSCODECx" + blob[8:]):
        with pytest.raises(CorruptDataError):
            load_codec(junk)
    with pytest.raises(CorruptDataError, match="bytes"):
        load_codec(123)  # type: ignore[arg-type]


def _seal(header: dict, payload: bytes) -> bytes:
    """A v2 container around any header and payload, with a correct checksum."""
    hb = json.dumps(header).encode()
    body = MAGIC + struct.pack("<IQ", len(hb), len(payload)) + hb + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_a_sealed_header_that_lies_about_its_arrays_is_corrupt(
    fitted: dict[str, Codec],
) -> None:
    blob = fitted["rq"].to_bytes()
    header, arrays = read_container(blob)
    payload = blob[_regions(blob)["payload"][0]:_regions(blob)["payload"][1]]
    first = header["arrays"][0]
    lies = [
        {"shape": [s + 1 for s in first["shape"]]},
        {"offset": len(payload)},
        {"dtype": "object"},
        {"dtype": "float64"},
        {"name": header["arrays"][1]["name"]},
        {"nbytes": -1},
        {"shape": "16x384"},
    ]
    for lie in lies:
        bad = json.loads(json.dumps(header))
        bad["arrays"][0].update(lie)
        with pytest.raises(CorruptDataError, match=r"codec array|bad array"):
            load_codec(_seal(bad, payload))
    for field in ("codec", "arrays"):
        bad = {k: v for k, v in header.items() if k != field}
        with pytest.raises(CorruptDataError, match=field):
            load_codec(_seal(bad, payload))
    with pytest.raises(CorruptDataError, match=r"not a JSON object|UTF-8"):
        load_codec(_seal([], payload))  # type: ignore[arg-type]
    # A well-formed container whose codec state does not match its parameters.
    header.pop("arrays")
    arrays["centroids"] = arrays["centroids"][:, :-1]
    with pytest.raises(CorruptDataError):
        load_codec(pack_container(header, arrays))


def test_lengths_that_disagree_with_a_valid_checksum() -> None:
    blob = make_codec("sq:bits=8").fit(np.eye(8, dtype=np.float32) + 0.5).to_bytes()
    hlen, plen = struct.unpack_from("<IQ", blob, len(MAGIC))
    body = bytearray(blob[:-4])
    struct.pack_into("<IQ", body, len(MAGIC), hlen, plen + 1)
    with pytest.raises(CorruptDataError, match="length fields"):
        load_codec(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


@pytest.fixture(scope="module")
def v1_expected() -> dict[str, np.ndarray]:
    with np.load(DATA / "v1_expected.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("kind", V1_KINDS)
def test_container_v1_files_still_load(kind: str, v1_expected: dict[str, np.ndarray]) -> None:
    blob = (DATA / f"v1_{kind}.lscodec").read_bytes()
    assert blob.startswith(MAGIC_V1)
    codec = load_codec(blob)
    x = v1_expected["x"]
    codes = codec.encode(x)
    np.testing.assert_array_equal(codes, v1_expected[f"{kind}_codes"])
    np.testing.assert_array_equal(codec.decode(codes), v1_expected[f"{kind}_decoded"])
    again = load_codec(codec.to_bytes())  # rewritten as v2, same codec
    np.testing.assert_array_equal(again.encode(x), codes)
    assert again.spec == codec.spec and again.param_bytes == codec.param_bytes


def test_container_v1_damage_is_still_detected() -> None:
    blob = (DATA / "v1_rq.lscodec").read_bytes()
    bad = bytearray(blob)
    bad[-1] ^= 0x01
    with pytest.raises(CorruptDataError, match="CRC32"):
        load_codec(bytes(bad))
    for cut in (4, 10, len(blob) // 2, len(blob) - 1):
        with pytest.raises(CorruptDataError, match="truncated"):
            load_codec(blob[:cut])
