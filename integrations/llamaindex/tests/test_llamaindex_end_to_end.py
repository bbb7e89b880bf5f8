"""End to end: VectorStoreIndex.from_documents with our store and embeddings -> filtered retrieval.

Also LlamaIndex's embedding contract for the approximator and Bedrock classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lance_spiral_llamaindex import ApproximatorEmbedding, BedrockEmbedding, LanceSpiralVectorStore
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)


@pytest.fixture(scope="module")
def documents(shared_data: Path) -> list[Document]:
    lines = (shared_data / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = []
    for i, line in enumerate(lines[:60]):
        d = json.loads(line)
        docs.append(Document(text=d["text"], doc_id=f"sf{d['id']}",
                             metadata={"title": d["title"], "part": i % 3, "pos": i}))
    return docs


def test_index_from_documents_retrieves_with_filters(
    tmp_path: Path, tiny_model_dir: Path, documents: list[Document]
) -> None:
    store = LanceSpiralVectorStore(tmp_path / "e2e.lance")
    embed = ApproximatorEmbedding(model_dir=str(tiny_model_dir))
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
        transformations=[SentenceSplitter(chunk_size=1024, chunk_overlap=0,
                                          tokenizer=str.split)],
    )
    n_nodes = len(store.get_nodes())
    assert n_nodes >= len(documents)

    target = documents[7]
    hits = index.as_retriever(similarity_top_k=3).retrieve(target.text)
    assert hits[0].node.ref_doc_id == target.doc_id
    assert hits[0].score is not None and hits[0].score > 0.95

    flt = MetadataFilters(filters=[MetadataFilter(key="part", operator=FilterOperator.NE,
                                                  value=target.metadata["part"])])
    filtered = index.as_retriever(similarity_top_k=5, filters=flt).retrieve(target.text)
    assert len(filtered) == 5
    assert all(h.node.metadata["part"] != target.metadata["part"] for h in filtered)
    assert all(h.node.ref_doc_id != target.doc_id for h in filtered)

    index.delete_ref_doc(target.doc_id)
    again = index.as_retriever(similarity_top_k=3).retrieve(target.text)
    assert all(h.node.ref_doc_id != target.doc_id for h in again)
    assert len(store.get_nodes()) < n_nodes


def test_approximator_embedding_contract(tiny_model_dir: Path) -> None:
    from lance_spiral.embed.approximator import Approximator

    embed = ApproximatorEmbedding(model_dir=str(tiny_model_dir), embed_batch_size=2)
    texts = ["protein folding", "vaccine trial outcomes", "gene expression", ""]
    batch = np.asarray(embed.get_text_embedding_batch(texts))
    want = Approximator.load(tiny_model_dir).embed(texts)
    np.testing.assert_allclose(batch, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embed.get_query_embedding(texts[0]), want[0], atol=1e-6)
    np.testing.assert_allclose(embed.get_text_embedding(texts[1]), want[1], atol=1e-6)


async def test_approximator_embedding_async(tiny_model_dir: Path) -> None:
    embed = ApproximatorEmbedding(model_dir=str(tiny_model_dir))
    q = await embed.aget_query_embedding("protein folding")
    docs = await embed.aget_text_embedding_batch(["protein folding", "other"])
    assert len(q) == len(docs[0]) == 384
    np.testing.assert_allclose(q, docs[0], atol=1e-6)


def test_bedrock_embedding_against_local_server(
    bedrock_server: Any, bedrock_server_module: Any, aws_env: None
) -> None:
    embed = BedrockEmbedding(endpoint_url=bedrock_server.endpoint_url, region_name="us-east-1",
                             client_kwargs={"cache": False})
    got = np.asarray(embed.get_text_embedding_batch(["alpha", "beta"]))
    ref = bedrock_server_module.reference_embedding
    want = np.stack([ref("amazon.titan-embed-text-v2:0", t) for t in ("alpha", "beta")])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embed.get_query_embedding("alpha"), want[0], rtol=1e-5, atol=1e-6)


test_bedrock_embedding_against_local_server.allow_localhost = True  # type: ignore[attr-defined]
