"""BedrockEmbedder end to end: boto3 -> HTTP on 127.0.0.1 -> a server speaking InvokeModel."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.embed import BedrockEmbedder, CachedEmbedder, TieredCache
from lance_spiral.embed.bedrock.ratelimit import TokenBucket, backoff_delay
from lance_spiral.errors import (
    DTypeError,
    EmptyInputError,
    InvalidInputError,
    InvalidParameterError,
    RemoteServiceError,
)
from tests.support.bedrock_server import BedrockServer, reference_embedding, token_count

pytest.importorskip("boto3")

V1 = "amazon.titan-embed-text-v1"
V2 = "amazon.titan-embed-text-v2:0"
ACCESS_KEY = "AKIATESTLEAKCHECK042"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTESTSECRETKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjTESTSESSIONTOKEN0123456789"


class FakeClock:
    """A clock that only moves when someone sleeps: pacing is measured by counting."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def sleep(self, d: float) -> None:
        with self._lock:
            self.sleeps.append(d)
            self.t += d


@pytest.fixture(scope="module")
def server() -> Iterator[BedrockServer]:
    with BedrockServer() as s:
        yield s


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path, server) -> None:
    """Dummy credentials (tests only) and no access to any real AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server.reset()


@pytest.fixture(scope="module")
def claims(shared_data: Path) -> list[str]:
    import json

    lines = (shared_data / "scifact" / "queries.jsonl").open(encoding="utf-8")
    return list(dict.fromkeys(json.loads(line)["text"] for line in lines))[:200]


def make(server: BedrockServer, model_id: str = V2, **kw) -> BedrockEmbedder:
    kw.setdefault("sleep", lambda d: None)
    return BedrockEmbedder(model_id, endpoint_url=server.endpoint_url, **kw)


def test_v2_float_rows_match_server_in_input_order(server, claims):
    e = make(server, cache=False, max_concurrency=8)
    batch = claims[:40] + claims[:5]
    out = e.embed(batch)
    assert out.shape == (45, 1024) and out.dtype == np.float32 and e.dim == 1024
    ref = np.stack([reference_embedding(V2, t) for t in batch])
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert server.requests == 40  # duplicates in a batch are sent once
    assert server.bodies[0].keys() == {"inputText", "dimensions", "normalize", "embeddingTypes"}
    assert all(h.startswith("AWS4-HMAC-SHA256 Credential=" + ACCESS_KEY)
               for h in server.auth_headers)  # signed with the chain's credentials
    st = e.stats()
    assert st["requests"] == 40 and st["retries"] == 0
    assert st["input_tokens"] == sum(token_count(t) for t in claims[:40])


def test_requests_really_run_concurrently(server, claims):
    server.delay = 0.05
    make(server, cache=False, max_concurrency=8).embed(claims[:24])
    assert server.max_inflight > 1
    server.reset()
    server.delay = 0.05
    make(server, cache=False, max_concurrency=1).embed(claims[:6])
    assert server.max_inflight == 1


@pytest.mark.parametrize("dims", [256, 512])
def test_v2_dimensions_and_unnormalized(server, claims, dims):
    out = make(server, cache=False, dimensions=dims, normalize=False).embed(claims[:5])
    ref = np.stack([reference_embedding(V2, t, dimensions=dims, normalize=False)
                    for t in claims[:5]])
    assert out.shape == (5, dims)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert np.abs(np.linalg.norm(out, axis=1) - 1).min() > 0.1
    assert server.bodies[0]["dimensions"] == dims and server.bodies[0]["normalize"] is False


def test_v2_binary(server, claims):
    e = make(server, cache=False, embedding_type="binary", dimensions=512)
    out = e.embed(claims[:6])
    ref = np.stack([reference_embedding(V2, t, dimensions=512) > 0 for t in claims[:6]])
    assert out.dtype == np.float32 and set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    assert server.bodies[0]["embeddingTypes"] == ["binary"]


@pytest.mark.parametrize("normalize", [True, False])
def test_v1(server, claims, normalize):
    out = make(server, V1, cache=False, normalize=normalize).embed(claims[:4])
    ref = np.stack([reference_embedding(V1, t) for t in claims[:4]])
    if normalize:
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    assert out.shape == (4, 1536)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-7)
    assert all(b.keys() == {"inputText"} for b in server.bodies)  # v1 takes no options


def test_bad_parameters(server):
    with pytest.raises(InvalidParameterError, match="1536"):
        make(server, V1, dimensions=512)
    with pytest.raises(InvalidParameterError, match="dimensions"):
        make(server, dimensions=300)
    with pytest.raises(InvalidParameterError, match="embedding_type"):
        make(server, embedding_type="int8")
    with pytest.raises(InvalidParameterError, match="only returns float"):
        make(server, V1, embedding_type="binary")
    with pytest.raises(InvalidParameterError, match="titan_version"):
        make(server, "cohere.embed-english-v3")
    with pytest.raises(InvalidParameterError, match="max_concurrency"):
        make(server, max_concurrency=0)
    with pytest.raises(InvalidParameterError, match="cache"):
        make(server, cache=TieredCache("other-model"))


def test_throttling_then_success_counts_retries(server, claims):
    text = claims[0]
    server.fail_text(text, ["ThrottlingException"] * 3)
    slept: list[float] = []
    e = make(server, cache=False, requests_per_minute=None, tokens_per_minute=None,
             sleep=slept.append, backoff_base=0.5, seed=1)
    out = e.embed([text, claims[1]])
    np.testing.assert_allclose(out[0], reference_embedding(V2, text), rtol=1e-6)
    assert server.text_counts[text] == 4
    st = e.stats()
    assert (st["retries"], st["throttled"], st["requests"]) == (3, 3, 5)
    assert len(slept) == 3
    for attempt, d in enumerate(slept):  # equal jitter: between half and all of 0.5 * 2**n
        assert 0.25 * 2**attempt <= d <= 0.5 * 2**attempt


@pytest.mark.parametrize("error", ["ModelTimeoutException", "InternalServerException",
                                   "ModelNotReadyException", "ServiceUnavailableException"])
def test_transient_errors_are_retried(server, claims, error):
    server.fail_text(claims[2], [error])
    e = make(server, cache=False)
    np.testing.assert_allclose(e.embed([claims[2]])[0], reference_embedding(V2, claims[2]),
                               rtol=1e-6)
    assert server.text_counts[claims[2]] == 2 and e.stats()["retries"] == 1


def test_service_unavailable_gives_up_after_max_retries(server, claims):
    server.fail_text(claims[3], ["ServiceUnavailableException"] * 10)
    e = make(server, cache=False, max_retries=2)
    with pytest.raises(RemoteServiceError) as info:
        e.embed([claims[3]])
    msg = str(info.value)
    assert V2 in msg and "ServiceUnavailableException" in msg and "503" in msg
    assert "3 attempts" in msg
    assert server.text_counts[claims[3]] == 3  # 1 + max_retries: botocore did not retry on its own


@pytest.mark.parametrize(("error", "status"), [("ValidationException", 400),
                                               ("AccessDeniedException", 403),
                                               ("ModelErrorException", 424)])
def test_hard_errors_are_not_retried(server, claims, error, status):
    server.fail_text(claims[4], [error])
    e = make(server, cache=False)
    with pytest.raises(RemoteServiceError, match=f"{error}.*{status}.*not retried") as info:
        e.embed([claims[4]])
    assert V2 in str(info.value)
    assert server.text_counts[claims[4]] == 1 and e.stats()["retries"] == 0


def test_one_hard_error_fails_a_concurrent_batch(server, claims):
    server.fail_text(claims[10], ["ValidationException"])
    e = make(server, max_concurrency=4)
    with pytest.raises(RemoteServiceError, match="ValidationException"):
        e.embed(claims[:30])
    assert server.text_counts[claims[10]] == 1


def test_input_checks_happen_before_any_call(server, claims):
    e = make(server)
    cases = [
        ([claims[0], "x" * 50_001], InvalidInputError, "50,000"),
        ([claims[0], "word " * 8_000], InvalidInputError, "8,192 tokens"),
        ([claims[0], "   "], InvalidInputError, "empty"),
        ([claims[0], 7], DTypeError, r"texts\[1\]"),
        (claims[0], DTypeError, "list of str"),
        ([], EmptyInputError, "empty"),
    ]
    for texts, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            e.embed(texts)
    assert server.requests == 0
    fine = "word " * 6_000  # 30,000 characters ~ 7,500 estimated tokens: accepted
    assert e.embed([fine]).shape == (1, 1024) and server.requests == 1


def test_request_rate_pacing_by_counting(server, claims):
    clock = FakeClock()
    e = make(server, cache=False, max_concurrency=1, requests_per_minute=120,
             tokens_per_minute=None, clock=clock.now, sleep=clock.sleep)
    e.embed(claims[:12])
    # bucket of 2 (one second at 2/s) then 10 more requests at 2 per second
    assert math.isclose(clock.t, 5.0, abs_tol=1e-9)
    assert server.requests == 12 and e.stats()["limiter_wait_s"] == pytest.approx(5.0)


def test_token_rate_pacing_uses_reported_token_counts(server, claims):
    clock = FakeClock()
    tpm = 600.0  # 10 tokens per second, bucket of 10
    e = make(server, cache=False, max_concurrency=1, requests_per_minute=None,
             tokens_per_minute=tpm, clock=clock.now, sleep=clock.sleep)
    texts = claims[:20]
    e.embed(texts)
    used = sum(token_count(t) for t in texts)
    # Settled against the true counts, the bucket paid out ``used`` tokens minus its capacity;
    # the last request was admitted on an estimate, so allow one text's worth of slack.
    slack = max(math.ceil(len(t) / 3.0) for t in texts) / 10.0
    assert (used - 10) / 10 - slack <= clock.t <= (used - 10) / 10 + slack
    assert e.stats()["input_tokens"] == used


def test_token_bucket_unit():
    clock = FakeClock()
    b = TokenBucket(60, capacity=3, clock=clock.now, sleep=clock.sleep)  # 1 token/s
    for _ in range(3):
        assert b.acquire() == 0.0
    assert b.acquire() == pytest.approx(1.0)
    assert b.acquire(10) == pytest.approx(3.0)  # oversize: waits for a full bucket, goes negative
    assert b.acquire() == pytest.approx(8.0)  # repays the 7-token debt, then 1 more
    b.adjust(-3)  # refund
    assert b.acquire(3) == 0.0
    with pytest.raises(InvalidParameterError):
        TokenBucket(0)
    delays = [backoff_delay(a, base=1, cap=8) for a in range(6)]
    assert all(min(8, 2**a) / 2 <= d <= min(8, 2**a) for a, d in enumerate(delays))


def test_credentials_never_in_errors_or_logs(server, claims, caplog):
    caplog.set_level(logging.DEBUG)  # botocore's DEBUG records too: they are redacted
    server.fail_text(claims[5], ["ThrottlingException", "AccessDeniedException"])
    e = make(server, cache=False)
    with pytest.raises(RemoteServiceError) as info:
        e.embed([claims[5]])
    err = info.value
    chain = []
    x: BaseException | None = err
    while x is not None:
        chain += [str(x), repr(x), repr(x.args)]
        x = x.__cause__ or x.__context__
    texts = chain + [r.getMessage() for r in caplog.records] + [repr(e)]
    assert any("ThrottlingException" in r.getMessage() for r in caplog.records)
    assert any("<redacted>" in r.getMessage() for r in caplog.records)
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert not any(secret in t for t in texts)


def test_missing_credentials_is_a_clear_error(server, claims, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    with pytest.raises(RemoteServiceError, match="no AWS credentials"):
        make(server, cache=False).embed([claims[0]])
    assert server.requests == 0


def test_cache_hits_skip_the_server(server, claims):
    e = make(server)
    first = e.embed(claims[:50])
    assert server.requests == 50
    again = e.embed(claims[25:50] + claims[:25])
    assert server.requests == 50
    np.testing.assert_array_equal(again, np.concatenate([first[25:], first[:25]]))
    e.embed(claims[40:60])
    assert server.requests == 60
    assert e.stats()["cache"]["l1_hits"] == 60


def test_restart_with_l3_makes_zero_calls(server, claims, tmp_path):
    with make(server, cache_dir=tmp_path) as e1:
        first = e1.embed(claims[:80])
    assert server.requests == 80
    e2 = make(server, cache_dir=tmp_path)
    again = e2.embed(claims[:80])
    assert server.requests == 80
    np.testing.assert_array_equal(again, first)
    assert e2.stats()["cache"]["l3_hits"] == 80
    e3 = make(server, cache_dir=tmp_path, dimensions=256)  # another cache key: no false hits
    assert e3.embed(claims[:3]).shape == (3, 256) and server.requests == 83


async def test_aembed_and_wrapping(server, claims):
    e = make(server, cache=False)
    out = await e.aembed(claims[:3])
    wrapped = CachedEmbedder(e, model=e.cache_key)
    np.testing.assert_array_equal(wrapped.embed(claims[:3]), out)
    wrapped.embed(claims[:3])
    assert server.requests == 6 and wrapped.dim == 1024


def test_shared_cache_object_and_progress(server, claims):
    key = make(server, cache=False).cache_key
    cache = TieredCache(key)
    a = make(server, cache=cache, progress=True)
    a.embed(claims[:10])
    b = make(server, cache=cache)  # a second client sharing the same cache: all hits
    b.embed(claims[:10])
    assert server.requests == 10 and b.stats()["cache"]["l1_hits"] == 10


def test_missing_boto3_names_the_extra(server, monkeypatch):
    import sys

    from lance_spiral.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependencyError, match=r"lance-spiral\[bedrock\]"):
        make(server)
