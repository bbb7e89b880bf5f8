"""llama-index-embeddings-bedrock compatible ``BedrockEmbedding`` arguments, on the local server.

Each argument is honoured (the server sees the profile's key, the dimensions) or refused with a
clear error; ``ApproximatorEmbedding`` refuses ``model_name`` and unknown arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lance_spiral_llamaindex import ApproximatorEmbedding, BedrockEmbedding

from lance_spiral.errors import InvalidParameterError

V2 = "amazon.titan-embed-text-v2:0"


@pytest.fixture
def profile(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    creds = tmp_path / "credentials"
    creds.write_text("[li-test]\naws_access_key_id = AKIDLIPROFILE\n"
                     "aws_secret_access_key = li-profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    return "li-test"


def test_llamaindex_bedrock_arguments(bedrock_server: Any, bedrock_server_module: Any,
                                      profile: str) -> None:
    bedrock_server.reset()
    emb = BedrockEmbedding(model_name=V2, profile_name=profile, region_name="us-east-1",
                           additional_kwargs={"dimensions": 512}, timeout=5.0, max_retries=1,
                           endpoint_url=bedrock_server.endpoint_url,
                           client_kwargs={"cache": False})
    got = np.asarray(emb.get_text_embedding_batch(["alpha", "beta"]))
    ref = bedrock_server_module.reference_embedding
    want = np.stack([ref(V2, t, dimensions=512) for t in ("alpha", "beta")])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert all("Credential=AKIDLIPROFILE/" in h for h in bedrock_server.auth_headers)
    assert {b["dimensions"] for b in bedrock_server.bodies} == {512}
    assert emb.model_id == V2 == BedrockEmbedding(model_id=V2).model_name
    keyed = BedrockEmbedding(aws_access_key_id="AKIDLIKEYS", aws_secret_access_key="li-hidden",
                             endpoint_url=bedrock_server.endpoint_url, region_name="us-east-1",
                             client_kwargs={"cache": False})
    keyed.get_query_embedding("gamma")
    assert "Credential=AKIDLIKEYS/" in bedrock_server.auth_headers[-1]
    assert "li-hidden" not in repr(keyed) and "li-hidden" not in keyed.to_json()


test_llamaindex_bedrock_arguments.allow_localhost = True  # type: ignore[attr-defined]


def test_llamaindex_embeddings_refuse_what_they_cannot_honour(aws_env: None) -> None:
    with pytest.raises(InvalidParameterError, match="model_dir"):
        ApproximatorEmbedding(model_name="BAAI/bge-small-en-v1.5")
    with pytest.raises(InvalidParameterError, match=r"\['device'\]"):
        ApproximatorEmbedding(device="cuda")
    with pytest.raises(InvalidParameterError, match=r"\['botocore_session'\]"):
        BedrockEmbedding(botocore_session=object())
    with pytest.raises(InvalidParameterError, match="not both"):
        BedrockEmbedding(model_name=V2, model_id="amazon.titan-embed-text-v1")
    with pytest.raises(InvalidParameterError, match="'missing-profile'"):
        BedrockEmbedding(profile_name="missing-profile")
    with pytest.raises(InvalidParameterError, match="input_type"):
        BedrockEmbedding(additional_kwargs={"input_type": "search_query"})
