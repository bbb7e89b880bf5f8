"""RAG retrieval over SciFact with LlamaIndex: compressed Lance vector store + approximator.

Nodes carry their teacher (all-MiniLM-L6-v2) embeddings, stored 8-bit compressed; the index's
embed model is the approximator, so queries are embedded on CPU in the teacher's space.

Run:  python examples/llamaindex_scifact.py [--docs 800] [--queries 100] [--out DIR]
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

from lance_spiral_llamaindex import ApproximatorEmbedding, LanceSpiralVectorStore
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from scifact_data import load_slice

from lance_spiral.codecs.metrics import relevant_recall


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=800)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", default=None, help="table folder (temporary when omitted)")
    args = parser.parse_args(argv)

    data = load_slice(args.docs, args.queries)
    out = Path(args.out or tempfile.mkdtemp(prefix="li-scifact-"))
    store = LanceSpiralVectorStore(out / "scifact.lance", codec="sq:bits=8",
                                   table_kwargs={"fit_rows": 200})
    nodes = [
        TextNode(id_=i, text=x, embedding=v.tolist(), metadata={"title": t, "chars": len(x)})
        for i, t, x, v in zip(data.ids, data.titles, data.texts, data.doc_emb, strict=True)
    ]
    index = VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=ApproximatorEmbedding(),
    )

    retriever = index.as_retriever(similarity_top_k=10)
    retrieved = [[h.node.node_id for h in retriever.retrieve(q)] for q in data.queries]

    question = data.queries[0]
    long_only = MetadataFilters(
        filters=[MetadataFilter(key="chars", operator=FilterOperator.GT, value=1500)]
    )
    print("query:", question)
    for hit in index.as_retriever(similarity_top_k=3, filters=long_only).retrieve(question):
        print(f"  {hit.score:.3f} [{hit.node.metadata['chars']} chars] "
              f"{hit.node.metadata['title'][:70]}")

    codec = store.client.codec
    summary: dict[str, object] = {
        "docs": len(data.ids),
        "queries": len(data.queries),
        "recall@10_approximator_queries": relevant_recall(retrieved, data.qrels, 10),
        "codec": codec.spec,
        "bytes_per_vector_float32": data.doc_emb.shape[1] * 4,
        "bytes_per_vector_stored": codec.code_bytes,
    }
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print("SUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
