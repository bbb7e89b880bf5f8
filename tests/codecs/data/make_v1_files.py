"""Writes the container-v1 codec files the format tests read (run once, at commit 36e0385).

The files were made by the code of that commit, whose ``Codec.to_bytes`` wrote the first
container layout (``LSCODEC1``: header length, JSON header holding a CRC32 of the payload only,
payload). Later builds must keep reading them. Re-running this script with a newer build writes
the newer layout, so do not: the files are history.

    .venv/bin/python tests/codecs/data/make_v1_files.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lance_spiral.codecs import make_codec

HERE = Path(__file__).resolve().parent
SPECS = {
    "sq": "sq:bits=8",
    "binary": "binary:bits=2",
    "float16": "float16",
    "lossless": "lossless",
    "pq": "pq:m=4,bits=8,opq=1",
    "rq": "rq:nlist=8,m=4",
    "spiral": "spiral:n_subspaces=6,anchor_stride=64",
    "spiral_ratio": "spiral:compression_ratio=0.9,metric=l2",
}


def main() -> None:
    x = np.random.default_rng(0).standard_normal((400, 24)).astype(np.float32)
    expected: dict[str, np.ndarray] = {"x": x[:50]}
    for kind, spec in SPECS.items():
        codec = make_codec(spec).fit(x, seed=1)
        data = codec.to_bytes()
        assert data.startswith(b"LSCODEC1"), "this build no longer writes the v1 layout"
        (HERE / f"v1_{kind}.lscodec").write_bytes(data)
        codes = codec.encode(x[:50])
        expected[f"{kind}_codes"] = codes
        expected[f"{kind}_decoded"] = codec.decode(codes)
    np.savez(HERE / "v1_expected.npz", **expected)


if __name__ == "__main__":
    main()
