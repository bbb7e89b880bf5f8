"""Subprocess for the killed-writer test: appends many batches in one add(), slowly."""

from __future__ import annotations

import sys
import time

import numpy as np

from lance_spiral.table import open_table


def main() -> None:
    uri = sys.argv[1]
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


if __name__ == "__main__":
    main()
