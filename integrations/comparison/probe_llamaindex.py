"""Exercise one LlamaIndex vector store method by method; print what each call returns, as JSON.

Run by ``feature_table.py``: ``python probe_llamaindex.py STORE DATA_DIR`` with STORE one of
lance-spiral, lancedb, chroma; 40 real SciFact abstracts with their vectors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from probe_langchain import cell

N = 40


def make(kind: str, tmp: str) -> Any:
    """A fresh store of ``kind`` in ``tmp``."""
    if kind == "lance-spiral":
        from lance_spiral_llamaindex import LanceSpiralVectorStore

        return LanceSpiralVectorStore(tmp, table_name="probe")
    if kind == "lancedb":
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        return LanceDBVectorStore(uri=tmp, table_name="probe", mode="overwrite")
    if kind == "chroma":
        import chromadb
        from llama_index.vector_stores.chroma import ChromaVectorStore

        client = chromadb.PersistentClient(path=tmp)
        col = client.get_or_create_collection("probe", metadata={"hnsw:space": "cosine"})
        return ChromaVectorStore(chroma_collection=col)
    raise SystemExit(f"unknown store {kind}")


def main() -> None:
    """Probe the store named on the command line; print the results as JSON."""
    kind, data = sys.argv[1], Path(sys.argv[2])
    lines = (data / "corpus.jsonl").read_text().splitlines()[:N]
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, lines)]
    emb = np.asarray(np.load(data / "corpus_emb.npy", mmap_mode="r")[:N], dtype=np.float32)
    nodes = []
    for i, text in enumerate(texts):
        node = TextNode(id_=f"n{i}", text=text, embedding=emb[i].tolist(),
                        metadata={"group": "abc"[i % 3], "n": i})
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i // 4}")
        nodes.append(node)

    def q(**kw: Any) -> VectorStoreQuery:
        return VectorStoreQuery(query_embedding=emb[3].tolist(), similarity_top_k=5, **kw)

    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = make(kind, tmp)
        out["add"] = cell(lambda: f"{len(store.add(nodes))} ids")

        def default() -> str:
            r = store.query(q())
            return f"top id {r.ids[0]}, similarity {r.similarities[0]:.3f}"

        out["query (default)"] = cell(default)

        def filters() -> str:
            f = MetadataFilters(filters=[MetadataFilter(key="group", value="a")])
            r = store.query(q(filters=f))
            ok = all(n.metadata["group"] == "a" for n in r.nodes)
            return "honoured" if ok and r.nodes else f"not applied ({len(r.nodes)})"

        out["query(filters=MetadataFilters)"] = cell(filters)

        def where() -> str:
            r = store.query(q(), where={"group": "b"})
            ok = r.nodes and all(n.metadata["group"] == "b" for n in r.nodes)
            return "honoured" if ok else "ignored"

        out["query(..., where={...})"] = cell(where)
        out["query(..., unknown kwarg)"] = cell(
            lambda: f"ignored ({len(store.query(q(), fitlers=1).ids)} ids)")
        for mode in (VectorStoreQueryMode.MMR, VectorStoreQueryMode.TEXT_SEARCH,
                     VectorStoreQueryMode.HYBRID):
            def run(m: VectorStoreQueryMode = mode) -> str:
                n = len(store.query(q(mode=m, query_str="cell biology")).ids)
                if m != VectorStoreQueryMode.TEXT_SEARCH:
                    return f"{n} ids"
                absent = len(store.query(q(mode=m, query_str="zqxjv")).ids)
                return f"{n} ids; {absent} for an absent word" + (
                    " (mode ignored: vector search)" if absent else "")

            out[f"mode {mode.value}"] = cell(run)
        out["get_nodes(ids)"] = cell(lambda: f"{len(store.get_nodes(['n1', 'n2']))} nodes")
        out["delete(ref_doc_id)"] = cell(lambda: str(store.delete("doc0")))
        out["delete_nodes(ids)"] = cell(lambda: str(store.delete_nodes(["n5"])))
        out["aquery"] = cell(lambda: f"{len(asyncio.run(store.aquery(q())).ids)} ids")
        out["to_dict()"] = cell(lambda: ", ".join(
            f"{k}={v}" for k, v in store.to_dict().items() if "codec" in k) or "no codec")
        out["clear"] = cell(lambda: str(store.clear()))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
