"""Plain LanceDB with the approximator as an embedding function ("lance-spiral-approx").

LanceDB embeds the ``SourceField`` on ``add`` and the query text on ``search``. A process that
reopens the table must import ``lance_spiral.embed.lancedb_function`` first (LanceDB stores the
function's name, not its code).

Run:  python examples/lancedb_registry.py [--out DIR]
Model: $LANCE_SPIRAL_APPROXIMATOR or build/approximator (``make approximator``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import lancedb
from lancedb.embeddings import get_registry
from lancedb.pydantic import LanceModel, Vector

import lance_spiral.embed.lancedb_function  # noqa: F401  (registers "lance-spiral-approx")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scifact_data import load_slice


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="database folder (temporary when omitted)")
    args = parser.parse_args(argv)
    data = load_slice(n_docs=200, n_queries=5)

    func = get_registry().get("lance-spiral-approx").create()

    class Claim(LanceModel):  # type: ignore[misc]
        title: str = func.SourceField()
        vector: Vector(func.ndims()) = func.VectorField()  # type: ignore[valid-type]

    db = lancedb.connect(args.out or tempfile.mkdtemp(prefix="lancedb-registry-"))
    table = db.create_table("titles", schema=Claim, mode="overwrite")
    table.add([{"title": t} for t in data.titles])

    reopened = db.open_table("titles")  # works here: the plugin module is imported above
    hits = reopened.search(data.titles[0]).limit(3).to_list()
    titles = [h["title"] for h in hits]
    print("query:", data.titles[0])
    print("SUMMARY " + json.dumps({"rows": reopened.count_rows(), "top": titles}))
    return titles


if __name__ == "__main__":
    main()
