"""A real S3-compatible server for tests: moto's server mode on 127.0.0.1 (``moto[server]``).

Use in a test module::

    from tests.support.s3 import s3, s3_server  # noqa: F401  (fixtures)

    def test_x(s3):
        prefix, storage_options = s3          # a fresh s3://bucket/<random> prefix per test
        t = create_table(f"{prefix}/t.lance", rows, storage_options=storage_options)

``storage_options`` uses Lance's own option names (``aws_endpoint``, ``allow_http``,
``aws_region``, ``aws_access_key_id``, ``aws_secret_access_key``); the secret key is random
per session (``SECRET_MARK`` + hex) so that tests can assert it never leaks into outputs.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

SECRET_MARK = "lsS3cret"
BUCKET = "lance-spiral-tests"


@dataclass
class S3Server:
    """A running moto S3 server and the options to reach it."""

    endpoint: str
    bucket: str
    storage_options: dict[str, str] = field(repr=False)

    def client(self):
        """A boto3 S3 client for the server (to look at what was stored)."""
        import boto3

        o = self.storage_options
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=o["aws_region"],
                            aws_access_key_id=o["aws_access_key_id"],
                            aws_secret_access_key=o["aws_secret_access_key"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on 127.0.0.1 (a free port) with one bucket; stop it at the end."""
    moto_server = pytest.importorskip("moto.server", reason="needs moto[server] ([dev] extra)")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    opts = {"aws_endpoint": endpoint, "allow_http": "true", "aws_region": "us-east-1",
            "aws_access_key_id": "AKIDLANCESPIRAL",
            "aws_secret_access_key": SECRET_MARK + secrets.token_hex(12)}
    info = S3Server(endpoint=endpoint, bucket=BUCKET, storage_options=opts)
    try:
        info.client().create_bucket(Bucket=BUCKET)
        yield info
    finally:
        server.stop()


@pytest.fixture()
def s3(s3_server: S3Server) -> tuple[str, dict[str, str]]:
    """``(uri_prefix, storage_options)``: a fresh ``s3://bucket/<random>`` prefix per test."""
    return f"s3://{s3_server.bucket}/{secrets.token_hex(6)}", dict(s3_server.storage_options)
