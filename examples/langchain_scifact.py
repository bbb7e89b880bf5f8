"""RAG retrieval over SciFact with LangChain: compressed Lance store + approximator queries.

Documents keep their teacher (all-MiniLM-L6-v2) embeddings, stored 8-bit compressed (4x smaller
than float32); queries are embedded by the approximator, which lives in the teacher's space.

Run:  python examples/langchain_scifact.py [--docs 800] [--queries 100] [--out DIR]
Model: the approximator shipped in the package ($LANCE_SPIRAL_APPROXIMATOR overrides).
Data: SciFact from ../shared/data/scifact or $LANCE_SPIRAL_SHARED_DATA/scifact (see README).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langchain_lance_spiral import ApproximatorEmbeddings, LanceSpiralVectorStore
from scifact_data import load_slice

from lance_spiral.codecs.metrics import relevant_recall


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=800)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", default=None, help="table folder (temporary when omitted)")
    args = parser.parse_args(argv)

    data = load_slice(args.docs, args.queries)
    out = Path(args.out or tempfile.mkdtemp(prefix="lc-scifact-"))
    embeddings = ApproximatorEmbeddings()
    # fit_rows=200: fit the 8-bit codec from the first 200 rows (default 1000; smaller tables
    # use a near-lossless float16 code until then).
    store = LanceSpiralVectorStore(embeddings, out / "scifact.lance", codec="sq:bits=8",
                                   table_kwargs={"fit_rows": 200})
    metadatas = [{"doc_id": i, "title": t, "chars": len(x)}
                 for i, t, x in zip(data.ids, data.titles, data.texts, strict=True)]
    store.add_embeddings(data.texts, data.doc_emb, metadatas, ids=data.ids)

    # Queries through the approximator (the product path) and, for reference, teacher queries.
    approx = [[str(d.id) for d in store.similarity_search(q, k=10)] for q in data.queries]
    teacher = [[str(d.id) for d in store.similarity_search_by_vector(v.tolist(), k=10)]
               for v in data.query_emb]

    question = data.queries[0]
    long_docs = store.similarity_search(question, k=3, filter={"chars": {"$gt": 1500}})
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "fetch_k": 20})
    print("query:", question)
    for doc in long_docs:
        print(f"  [{doc.metadata['chars']} chars] {doc.metadata['title'][:80]}")
    print("MMR retriever:", [d.metadata["doc_id"] for d in mmr.invoke(question)])

    codec = store.table.codec
    summary = {
        "docs": len(data.ids),
        "queries": len(data.queries),
        "recall@10_approximator_queries": relevant_recall(approx, data.qrels, 10),
        "recall@10_teacher_queries": relevant_recall(teacher, data.qrels, 10),
        "codec": codec.spec,
        "bytes_per_vector_float32": data.doc_emb.shape[1] * 4,
        "bytes_per_vector_stored": codec.code_bytes,
        "table_bytes_on_disk": int(store.table.disk_bytes()),
    }
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print("SUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
