"""langchain-tests' Embeddings suites (unit + integration), unmodified, for our two classes.

The approximator runs a real tiny model (trained in seconds on shared-data texts); Bedrock talks
to the real local InvokeModel server of the core tests (tests/embed/bedrock_server.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_lance_spiral import ApproximatorEmbeddings, BedrockEmbeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests


class _Approximator:
    model_dir: str = ""

    @pytest.fixture(autouse=True)
    def _model(self, tiny_model_dir: Path) -> None:
        type(self).model_dir = str(tiny_model_dir)

    @property
    def embeddings_class(self) -> type[ApproximatorEmbeddings]:
        return ApproximatorEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_dir": self.model_dir}


class TestApproximatorEmbeddingsUnit(_Approximator, EmbeddingsUnitTests):
    pass


class TestApproximatorEmbeddingsIntegration(_Approximator, EmbeddingsIntegrationTests):
    pass


class _Bedrock:
    allow_localhost = True
    endpoint: str = ""

    @pytest.fixture(autouse=True)
    def _server(self, bedrock_server: Any, aws_env: None) -> None:
        type(self).endpoint = bedrock_server.endpoint_url

    @property
    def embeddings_class(self) -> type[BedrockEmbeddings]:
        return BedrockEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint, "region_name": "us-east-1",
                "client_kwargs": {"cache": False}}


class TestBedrockEmbeddingsUnit(_Bedrock, EmbeddingsUnitTests):
    pass


class TestBedrockEmbeddingsIntegration(_Bedrock, EmbeddingsIntegrationTests):
    pass


def test_approximator_vectors_match_the_core_model(tiny_model_dir: Path) -> None:
    from lance_spiral.embed.approximator import Approximator

    texts = ["protein folding in cells", "a claim about vaccines", ""]
    ours = np.asarray(ApproximatorEmbeddings(model_dir=str(tiny_model_dir)).embed_documents(texts))
    core = Approximator.load(tiny_model_dir).embed(texts)
    np.testing.assert_allclose(ours, core, rtol=1e-6, atol=1e-6)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_bedrock_vectors_are_the_servers(
    bedrock_server: Any, bedrock_server_module: Any, aws_env: None
) -> None:
    ref = bedrock_server_module.reference_embedding
    emb = BedrockEmbeddings(endpoint_url=bedrock_server.endpoint_url, region_name="us-east-1",
                            client_kwargs={"cache": False})
    got = np.asarray(emb.embed_documents(["alpha", "beta"]))
    want = np.stack([ref("amazon.titan-embed-text-v2:0", t) for t in ("alpha", "beta")])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


test_bedrock_vectors_are_the_servers.allow_localhost = True  # type: ignore[attr-defined]


def test_embeddings_reject_bad_input(tiny_model_dir: Path) -> None:
    from lance_spiral.errors import DTypeError

    emb = ApproximatorEmbeddings(model_dir=str(tiny_model_dir))
    with pytest.raises(DTypeError, match="list of str"):
        emb.embed_documents("not a list")  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match=r"texts\[1\]"):
        emb.embed_documents(["ok", 3])  # type: ignore[list-item]
    assert emb.embed_documents([]) == []
