"""langchain-aws compatible ``BedrockEmbeddings`` arguments, against the local Bedrock server.

Every argument is honoured (the server sees the profile's key, the dimensions, the normalize
flag) or refused with a clear error; the lazily built client is one client under a thread race.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_lance_spiral import ApproximatorEmbeddings, BedrockEmbeddings

from lance_spiral.errors import InvalidParameterError

V2 = "amazon.titan-embed-text-v2:0"
V1 = "amazon.titan-embed-text-v1"


@pytest.fixture
def profile(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    creds = tmp_path / "credentials"
    creds.write_text("[lsp-test]\naws_access_key_id = AKIDPROFILETEST\n"
                     "aws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    return "lsp-test"


class TestLangchainAwsArguments:
    allow_localhost = True

    def test_profile_dimensions_normalize_endpoint(self, bedrock_server: Any,
                                                    bedrock_server_module: Any,
                                                    profile: str) -> None:
        bedrock_server.reset()
        emb = BedrockEmbeddings(model_id=V2, region_name="us-east-1",
                                credentials_profile_name=profile,
                                model_kwargs={"dimensions": 256, "normalize": True},
                                endpoint_url=bedrock_server.endpoint_url,
                                client_kwargs={"cache": False})
        got = np.asarray(emb.embed_documents(["alpha", "beta"]))
        ref = bedrock_server_module.reference_embedding
        np.testing.assert_allclose(got, np.stack([ref(V2, t, dimensions=256) for t in
                                                  ("alpha", "beta")]), rtol=1e-5, atol=1e-6)
        assert all("Credential=AKIDPROFILETEST/" in h for h in bedrock_server.auth_headers)
        assert {(b["dimensions"], b["normalize"]) for b in bedrock_server.bodies} == {(256, True)}

    def test_normalize_follows_langchain_aws(self, bedrock_server: Any,
                                             bedrock_server_module: Any, aws_env: None) -> None:
        ref = bedrock_server_module.reference_embedding
        base = {"endpoint_url": bedrock_server.endpoint_url, "region_name": "us-east-1",
                "client_kwargs": {"cache": False}}
        raw = BedrockEmbeddings(model_id=V2, model_kwargs={"normalize": False}, **base)
        np.testing.assert_allclose(raw.embed_query("gamma"), ref(V2, "gamma", normalize=False),
                                   rtol=1e-5, atol=1e-6)
        unit = BedrockEmbeddings(model_id=V2, normalize=True, model_kwargs={"normalize": False},
                                 **base)
        assert np.linalg.norm(unit.embed_query("gamma")) == pytest.approx(1.0, abs=1e-5)
        v1 = BedrockEmbeddings(model_id=V1, **base)  # Titan v1: raw vectors unless normalize
        np.testing.assert_allclose(v1.embed_query("gamma"), ref(V1, "gamma"), rtol=1e-5,
                                   atol=1e-6)
        v1n = BedrockEmbeddings(model_id=V1, normalize=True, **base)
        want = ref(V1, "gamma") / np.linalg.norm(ref(V1, "gamma"))
        np.testing.assert_allclose(v1n.embed_query("gamma"), want, rtol=1e-5, atol=1e-6)

    def test_explicit_keys_are_used_and_never_shown(self, bedrock_server: Any,
                                                    aws_env: None) -> None:
        bedrock_server.reset()
        emb = BedrockEmbeddings(aws_access_key_id="AKIDEXPLICITKEY",
                                aws_secret_access_key="very-secret-value",
                                endpoint_url=bedrock_server.endpoint_url,
                                region_name="us-east-1", client_kwargs={"cache": False})
        emb.embed_query("delta")
        assert "Credential=AKIDEXPLICITKEY/" in bedrock_server.auth_headers[-1]
        assert "very-secret-value" not in repr(emb) and "very-secret-value" not in str(
            emb.model_dump())

    def test_one_client_when_threads_race(self, bedrock_server: Any, aws_env: None) -> None:
        emb = BedrockEmbeddings(endpoint_url=bedrock_server.endpoint_url,
                                region_name="us-east-1", client_kwargs={"cache": False})
        barrier = threading.Barrier(8)
        seen: list[int] = []

        def first_use() -> None:
            barrier.wait()
            seen.append(id(emb._embedder()))

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen) == 8 and len(set(seen)) == 1


def test_unknown_and_unsupported_arguments_raise(aws_env: None, profile: str) -> None:
    with pytest.raises(InvalidParameterError, match="model_dir"):
        ApproximatorEmbeddings(model_name="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(InvalidParameterError, match=r"\['bogus'\]"):
        ApproximatorEmbeddings(bogus=1)
    with pytest.raises(InvalidParameterError, match=r"\['temperature'\]"):
        BedrockEmbeddings(temperature=0.5)
    with pytest.raises(InvalidParameterError, match="embeddingTypes"):
        BedrockEmbeddings(model_kwargs={"embeddingTypes": ["binary"]})
    with pytest.raises(InvalidParameterError, match="dimensions"):
        BedrockEmbeddings(model_kwargs={"dimensions": 300})
    with pytest.raises(InvalidParameterError, match="v1"):
        BedrockEmbeddings(model_id=V1, model_kwargs={"dimensions": 256})
    with pytest.raises(InvalidParameterError, match="'nobody'"):
        BedrockEmbeddings(credentials_profile_name="nobody")
    with pytest.raises(InvalidParameterError, match="Titan"):
        BedrockEmbeddings(provider="cohere")
    with pytest.raises(InvalidParameterError, match="go together"):
        BedrockEmbeddings(aws_access_key_id="AKIDONLYHALF")
    with pytest.raises(InvalidParameterError, match="exclusive"):
        BedrockEmbeddings(credentials_profile_name=profile, client=object())
