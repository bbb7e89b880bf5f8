"""Plain LanceDB with the approximator as an embedding function ("lance-spiral-approx").

LanceDB embeds the ``SourceField`` on ``add`` and the query text on ``search``, here with the
approximator shipped in the package. Self-contained: the texts are the bundled WordNet sample
(3,000 glosses, 100 query sentences). A process that reopens the table must import
``lance_spiral.embed.lancedb_function`` first (LanceDB stores the function's name, not its code).

Run:  python examples/lancedb_registry.py [--out DIR] [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import tempfile

import lancedb
import numpy as np
from lancedb.embeddings import get_registry
from lancedb.pydantic import LanceModel, Vector

import lance_spiral.embed.lancedb_function  # noqa: F401  (registers "lance-spiral-approx")
from lance_spiral.sample import load_sample


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="database folder (temporary when omitted)")
    parser.add_argument("--rows", type=int, default=3000, help="glosses to add (<= 3000)")
    args = parser.parse_args(argv)
    docs, doc_vecs, queries, query_vecs = load_sample()
    docs, doc_vecs = docs[: args.rows], doc_vecs[: args.rows]

    func = get_registry().get("lance-spiral-approx").create()  # the shipped model

    class Gloss(LanceModel):  # type: ignore[misc]
        text: str = func.SourceField()
        vector: Vector(func.ndims()) = func.VectorField()  # type: ignore[valid-type]
        title: str
        id: str

    db = lancedb.connect(args.out or tempfile.mkdtemp(prefix="lancedb-registry-"))
    table = db.create_table("glosses", schema=Gloss, mode="overwrite")
    table.add([{"text": d["text"], "title": d["title"], "id": d["id"]} for d in docs])

    reopened = db.open_table("glosses")  # works here: the plugin module is imported above
    question = queries[0]["text"]
    hits = reopened.search(question).limit(3).to_list()  # the query text is embedded too
    print("query:", question)
    for h in hits:
        print(f"  {h['_distance']:.3f}  {h['title']}: {h['text']}")
    # A stored text finds itself: the same text gets the same vector.
    itself = reopened.search(docs[7]["text"]).limit(1).to_list()[0]["text"]
    # Agreement with the teacher: the top 10 of each query text against the exact top 10 of the
    # teacher's own (precomputed, bundled) query and document vectors.
    exact = np.argsort(-(query_vecs @ doc_vecs.T), axis=1)[:, :10]
    shared = []
    for q, row in zip(queries, exact, strict=True):
        found = {h["id"] for h in reopened.search(q["text"]).limit(10).to_list()}
        shared.append(len(found & {docs[j]["id"] for j in row}) / 10)
    summary = {"rows": reopened.count_rows(), "query": question,
               "top": [h["title"] for h in hits], "finds_itself": itself == docs[7]["text"],
               "top10_shared_with_teacher": float(np.mean(shared))}
    print("SUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
