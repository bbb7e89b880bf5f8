"""Keep AWS credentials out of logs: botocore's DEBUG records carry signed request headers.

The access key id appears in ``Authorization: ... Credential=AKIA...`` and the session token in
``X-Amz-Security-Token``; :func:`install_log_redaction` adds a filter on the ``botocore.auth``
and ``botocore.endpoint`` loggers that blanks both.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lance_spiral._optional import require

__all__ = ["RedactCredentials", "install_log_redaction", "make_client"]


class RedactCredentials(logging.Filter):
    """Blank access key ids and session tokens out of botocore's DEBUG records."""

    PATTERNS = (
        re.compile(r"(Credential=)[A-Za-z0-9]{12,128}"),
        re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[A-Za-z0-9+/=%_-]+"),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; always keep it."""
        msg = record.getMessage()
        red = msg
        for pat in self.PATTERNS:
            red = pat.sub(r"\1<redacted>", red)
        if red != msg:
            record.msg, record.args = red, ()
        return True


def install_log_redaction() -> None:
    """Add the redacting filter to botocore's request loggers (idempotent)."""
    for name in ("botocore.auth", "botocore.endpoint"):
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in log.filters):
            log.addFilter(RedactCredentials())


def make_client(endpoint_url: str | None, region_name: str | None, max_concurrency: int,
                 connect_timeout: float, read_timeout: float, *, session: Any = None,
                 config: Any = None) -> Any:
    """A ``bedrock-runtime`` boto3 client with our timeouts and botocore's retries off.

    ``session`` is a boto3 ``Session`` to use instead of the default one (a named profile,
    explicit keys); ``config`` a botocore ``Config`` merged over these defaults (its values win).
    """
    boto3 = require("boto3", "bedrock")
    config_mod = require("botocore.config", "bedrock")
    session = session if session is not None else boto3.session.Session()
    region = region_name or session.region_name or "us-east-1"
    ours = config_mod.Config(
        retries={"total_max_attempts": 1, "mode": "standard"},  # our retries, not botocore's
        connect_timeout=connect_timeout, read_timeout=read_timeout,
        max_pool_connections=max(10, max_concurrency))
    return session.client("bedrock-runtime", region_name=region, endpoint_url=endpoint_url,
                          config=ours if config is None else ours.merge(config))
