"""Amazon Titan text embeddings through Bedrock (``[bedrock]`` extra): client and rate limiter."""

from lance_spiral.embed.bedrock.client import MAX_INPUT_CHARS, MAX_INPUT_TOKENS, BedrockEmbedder
from lance_spiral.embed.bedrock.ratelimit import RateLimiter

__all__ = ["MAX_INPUT_CHARS", "MAX_INPUT_TOKENS", "BedrockEmbedder", "RateLimiter"]
