"""Rate limits: 429 with Retry-After past the per-minute budget of a client.

The LLM endpoints share RATE_LIMIT_PER_MINUTE; the sidecar benchmark (up to 2 x 1,000
sidecar calls per request) has BENCHMARK_RATE_LIMIT_PER_MINUTE. The client is
``auth.identity()``: a tenant, or an address, never whatever key a client makes up.
"""

from __future__ import annotations

from flask import Flask, Response, request

from ai_backends.api.auth import identity
from ai_backends.api.context import services
from ai_backends.api.problems import problem

# Generation is the expensive path; classification is cheap enough not to need a limit.
LLM_PREFIXES = ("/api/v1/generate", "/api/v2/generate", "/api/v1/chat",
                "/v1/chat/completions", "/v1/completions")
BENCHMARK_PREFIXES = ("/api/v1/classify-benchmark",)
LIMITED_PREFIXES = LLM_PREFIXES + BENCHMARK_PREFIXES
WHAT = {"llm": "LLM requests", "benchmark": "benchmark requests"}


def scope_of(path: str) -> str | None:
    """The rate-limit scope of a POST to ``path``; None when it is not limited."""
    if path.startswith(LLM_PREFIXES):
        return "llm"
    if path.startswith(BENCHMARK_PREFIXES):
        return "benchmark"
    return None


def _check_limit() -> Response | None:
    scope = scope_of(request.path) if request.method == "POST" else None
    if scope is None:
        return None
    limiter = services().rate_limiter
    retry_after = limiter.hit(scope, identity())
    if retry_after is None:
        return None
    response = problem(429, "Too Many Requests",
                       f"more than {limiter.limit_of(scope)} {WHAT[scope]} a minute; retry in "
                       f"{retry_after}s", "rate-limited")
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    """Check the rate limits in front of the expensive endpoints."""
    app.before_request(_check_limit)
