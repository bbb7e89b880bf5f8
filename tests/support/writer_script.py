"""Writer subprocesses for the table safety tests.

``python writer_script.py killed URI``: appends many batches in one add(), slowly (killed by the
test mid-write).

``python writer_script.py worker``: reads one JSON command per line on stdin, prints ``READY``,
waits for the command's go-file (so that every worker starts at once), runs it and prints one
JSON line with what its calls returned. Commands:

* ``{"op": "add", "uri", "rows": [[start, stop], ...], "go", "options"}``: one ``add`` per slice;
* ``{"op": "upsert", ...}``: the same with ``upsert``;
* ``{"op": "create", "uri", "rows": [[start, stop]], "fit_rows", "go", "options"}``:
  ``create_table(uri, rows, exist_ok=True)``.

Rows ``i`` are ``{"id": f"{prefix}{i}", "vector": SciFact corpus_emb[i], "n": i}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lance_spiral.table import create_table, open_table

DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA",
                           Path(__file__).resolve().parents[3] / "shared" / "data"))


def killed(uri: str) -> None:
    t = open_table(uri)
    rng = np.random.default_rng(0)

    def batches():
        for b in range(200):
            x = rng.standard_normal((4000, t.dim)).astype(np.float32)
            if b == 3:
                print("WRITING", flush=True)
            if b >= 3:
                time.sleep(0.2)
            yield {"id": [f"new{b}_{i}" for i in range(4000)], "vector": x,
                   "year": np.full(4000, 2020), "title": ["t"] * 4000}

    t.add(batches())
    print("DONE", flush=True)


def _rows(emb: np.ndarray, prefix: str, start: int, stop: int) -> dict:
    return {"id": [f"{prefix}{i}" for i in range(start, stop)], "vector": emb[start:stop],
            "n": np.arange(start, stop, dtype=np.int64)}


def worker() -> None:
    emb = np.load(DATA / "scifact" / "corpus_emb.npy").astype(np.float32)
    for line in sys.stdin:
        cmd = json.loads(line)
        print("READY", flush=True)
        go = Path(cmd["go"])
        while not go.exists():
            time.sleep(0.002)
        opts = cmd.get("options")
        prefix = cmd.get("prefix", "r")
        out: list[object] = []
        try:
            if cmd["op"] == "create":
                (start, stop), = cmd["rows"]
                t = create_table(cmd["uri"], _rows(emb, prefix, start, stop), exist_ok=True,
                                 fit_rows=cmd.get("fit_rows", 1000), progress=False,
                                 storage_options=opts)
                out.append(t.version)
            else:
                t = open_table(cmd["uri"], storage_options=opts)
                for start, stop in cmd["rows"]:
                    data = _rows(emb, prefix, start, stop)
                    out.append(t.add(data) if cmd["op"] == "add" else t.upsert(data))
            print(json.dumps({"ok": out}), flush=True)
        except Exception as exc:  # reported to the test, which fails on it
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "killed":
        killed(sys.argv[2])
    else:
        worker()
