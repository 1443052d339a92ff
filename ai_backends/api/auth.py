"""Optional API-key authentication: when ``API_KEYS`` is set, every endpoint but health,
metrics, docs and the console page needs ``X-API-Key`` (or ``Authorization: Bearer``)."""

from __future__ import annotations

import hmac

from flask import Flask, Response, current_app, request

from ai_backends.api.problems import problem

PUBLIC_PREFIXES = ("/health", "/livez", "/readyz", "/metrics", "/openapi", "/docs", "/static")
PUBLIC_PATHS = {"/", "/favicon.ico"}


def presented_key() -> str:
    """The key the client sent, from X-API-Key or a Bearer token ('' when none)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key", "")


def key_is_valid(given: str, keys: list[str]) -> bool:
    """Compare ``given`` with every key in constant time (no early exit on a match)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def _require_key() -> Response | None:
    keys: list[str] = current_app.config["API_KEYS"]
    if not keys or request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return None
    if request.method == "OPTIONS" or key_is_valid(presented_key(), keys):
        return None
    response = problem(401, "Unauthorized", "send a valid API key in the X-API-Key header",
                       "unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="ai-backends"'
    return response


def init_app(app: Flask) -> None:
    """Check API keys before any other work when keys are configured."""
    app.before_request(_require_key)
