"""Rate limits on the LLM endpoints: 429 with Retry-After past RATE_LIMIT_PER_MINUTE."""

from __future__ import annotations

from flask import Flask, Response, request

from ai_backends.api.auth import presented_key
from ai_backends.api.context import services
from ai_backends.api.problems import problem

# Generation is the expensive path; classification is cheap enough not to need a limit.
LIMITED_PREFIXES = ("/api/v1/generate", "/api/v2/generate", "/api/v1/chat",
                    "/v1/chat/completions", "/v1/completions")


def _check_limit() -> Response | None:
    if request.method != "POST" or not request.path.startswith(LIMITED_PREFIXES):
        return None
    limiter = services().rate_limiter
    client = presented_key() or request.remote_addr or "unknown"
    retry_after = limiter.hit("llm", client)
    if retry_after is None:
        return None
    response = problem(429, "Too Many Requests",
                       f"more than {limiter.limit} LLM requests a minute; retry in "
                       f"{retry_after}s", "rate-limited")
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    """Check the rate limit in front of the LLM endpoints."""
    app.before_request(_check_limit)
