"""Fixtures shared by the LangChain and LlamaIndex package tests (both test folders sit below).

The tests run offline: sockets are disabled (unix sockets allowed) for every test here;
a test class that talks to the local Bedrock test server sets ``allow_localhost = True`` and may
then reach 127.0.0.1 only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import pytest_socket

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANCE_SPIRAL_SHARED_DATA", ROOT.parent / "shared" / "data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
_TINY_ENV = "LANCE_SPIRAL_TEST_TINY_APPROXIMATOR"


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest) -> Iterator[None]:
    if getattr(request.cls, "allow_localhost", False) or getattr(
        request.function, "allow_localhost", False
    ):
        pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    else:
        pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket._remove_restrictions()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (skips when absent; CI has it)."""
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set LANCE_SPIRAL_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny approximator trained in seconds on shared-data texts (tests.support.tiny_model).

    Built once per test process (``_TINY_ENV`` also lets a caller pass a prebuilt one). Small
    on purpose (200 texts, 4 epochs): these tests check the adapters.
    """
    built = os.environ.get(_TINY_ENV)
    if built and Path(built).is_dir():
        return Path(built)
    from tests.support.tiny_model import tiny_approximator

    path = Path(tiny_approximator(tmp_path_factory.mktemp("tiny-approximator"), n_texts=200,
                                  epochs=4))
    os.environ[_TINY_ENV] = str(path)
    return path


@pytest.fixture(scope="session")
def bedrock_server_module() -> ModuleType:
    """The Bedrock test server module of the core test suite (tests/support/bedrock_server.py)."""
    import tests.support.bedrock_server as module

    return module


@pytest.fixture(scope="session")
def bedrock_server(bedrock_server_module: ModuleType) -> Iterator[object]:
    """A real HTTP server on 127.0.0.1 speaking bedrock-runtime InvokeModel."""
    with bedrock_server_module.BedrockServer() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and no access to any real AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-test-only")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
