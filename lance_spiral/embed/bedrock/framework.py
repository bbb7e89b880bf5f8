"""Constructor arguments of the framework Bedrock classes (langchain-aws / LlamaIndex style).

The LangChain and LlamaIndex ``BedrockEmbedding(s)`` classes of the adapters take the arguments
users know from ``langchain-aws`` and ``llama-index-embeddings-bedrock`` (a named profile,
explicit keys, ``model_kwargs`` / ``additional_kwargs`` with ``dimensions`` and ``normalize``);
this module turns them into :class:`~lance_spiral.embed.BedrockEmbedder` options and a boto3
session, checking everything when the class is built rather than at the first request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lance_spiral._optional import require
from lance_spiral.embed.bedrock.titan import output_dim, resolve_version
from lance_spiral.errors import InvalidParameterError

__all__ = ["Secret", "aws_session", "bedrock_options"]


class Secret(Protocol):
    """A secret string wrapper (pydantic ``SecretStr``): the value is read only when needed."""

    def get_secret_value(self) -> str:
        """The secret."""
        ...


def bedrock_options(model_id: str, model_kwargs: Mapping[str, Any] | None, *, normalize: bool,
                    provider: str | None, client_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``BedrockEmbedder`` options from langchain-aws style arguments (checked now).

    Raises:
        InvalidParameterError: Unknown model_kwargs, options Titan v1 does not take, a
            provider other than amazon, or client_kwargs that repeat these arguments.
    """
    if provider not in (None, "amazon"):
        raise InvalidParameterError(f"only Amazon Titan models are supported, got provider"
                                    f" {provider!r}")
    mk = dict(model_kwargs or {})
    bad = sorted(set(mk) - {"dimensions", "normalize"})
    if bad:
        raise InvalidParameterError(
            f"model_kwargs {bad} are not supported; Titan takes 'dimensions' and 'normalize'")
    version = resolve_version(model_id, client_kwargs.get("titan_version"))
    if version == 1 and mk:
        raise InvalidParameterError(
            f"Titan v1 ({model_id}) takes no model_kwargs, got {sorted(mk)}")
    clash = sorted({"dimensions", "normalize", "client"} & set(client_kwargs))
    if clash:
        raise InvalidParameterError(f"pass {clash} as model_kwargs / arguments, not client_kwargs")
    output_dim(model_id, version, mk.get("dimensions"),
               client_kwargs.get("embedding_type", "float"))  # raises for bad dimensions now
    server_normalize = bool(mk.get("normalize", True)) if version == 2 else False
    return {**client_kwargs, "dimensions": mk.get("dimensions"),
            "normalize": bool(normalize) or server_normalize}


def aws_session(profile: str | None, key_id: Secret | str | None,
                secret: Secret | str | None, token: Secret | str | None, *,
                has_client: bool) -> Any:
    """A boto3 session for a named profile or explicit keys (None: boto3's default chain).

    Raises:
        InvalidParameterError: A profile that does not exist, half a key pair, or credentials
            given together with a ready client. Secrets never appear in the message.
    """
    given = profile is not None or key_id is not None or secret is not None or token is not None
    if not given:
        return None
    if has_client:
        raise InvalidParameterError("credentials arguments and client= are exclusive: the"
                                    " client already holds its credentials")
    if (key_id is None) != (secret is None):
        raise InvalidParameterError("aws_access_key_id and aws_secret_access_key go together")
    boto3 = require("boto3", "bedrock")
    botocore_exc = require("botocore.exceptions", "bedrock")

    def reveal(s: Secret | str | None) -> str | None:
        if s is None or isinstance(s, str):
            return s
        return s.get_secret_value()

    try:
        return boto3.session.Session(profile_name=profile, aws_access_key_id=reveal(key_id),
                                     aws_secret_access_key=reveal(secret),
                                     aws_session_token=reveal(token))
    except botocore_exc.ProfileNotFound:
        raise InvalidParameterError(
            f"AWS profile {profile!r} not found in the AWS config/credentials files") from None
