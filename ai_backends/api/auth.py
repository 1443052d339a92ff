"""API keys, tenants and client identity: the one place that decides who a request is from.

When ``API_KEYS`` is set, every endpoint but health, metrics, docs and the console needs
``X-API-Key`` (or ``Authorization: Bearer``). ``tenant()`` is the tenant of the key (``default``
when no keys are configured); ``identity()`` is who a rate limit counts: the tenant of a
valid key, else the client address. The address is the TCP peer, or, when the peer is one
of ``TRUSTED_PROXIES``, the nearest address in X-Forwarded-For that is not a trusted proxy.
A key that is not configured is never an identity, so made-up keys do not buy new budgets.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Flask, Response, current_app, g, request

from ai_backends.api.problems import problem
from ai_backends.core.tenancy import DEFAULT_TENANT, parse_api_keys

PUBLIC_PREFIXES = ("/health", "/livez", "/readyz", "/metrics", "/openapi", "/docs", "/static")
PUBLIC_PATHS = {"/", "/favicon.ico"}
TENANTS_KEY = "ai_backends.tenants"
PROXIES_KEY = "ai_backends.trusted_proxies"
IPV6_CLIENT_PREFIX = 64  # one IPv6 client usually holds a whole /64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def presented_key() -> str:
    """The key the client sent, from X-API-Key or a Bearer token ('' when none)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key", "")


def key_is_valid(given: str, keys: list[str]) -> bool:
    """Compare ``given`` with every key in constant time (no early exit on a match)."""
    return _tenant_of(given, dict.fromkeys(keys, "")) is not None


def _tenant_of(given: str, tenants: dict[str, str]) -> str | None:
    """The tenant of ``given``, comparing with every key in constant time; None if unknown."""
    found = None
    for key, tenant in tenants.items():
        if hmac.compare_digest(given.encode(), key.encode()):
            found = tenant
    return found


def tenant() -> str:
    """The tenant of this request: its key's tenant, or ``default`` when keys are off."""
    tenants: dict[str, str] = current_app.extensions[TENANTS_KEY]
    if not tenants:
        return DEFAULT_TENANT
    if "tenant" not in g:
        g.tenant = _tenant_of(presented_key(), tenants)
    if g.tenant is None:  # only public routes get here without a valid key
        raise LookupError("no tenant: this request carries no valid API key")
    return str(g.tenant)


def identity() -> str:
    """Whom a rate limit counts: ``tenant:<name>`` for a valid key, else ``addr:<client>``."""
    tenants: dict[str, str] = current_app.extensions[TENANTS_KEY]
    if tenants:
        if "tenant" not in g:
            g.tenant = _tenant_of(presented_key(), tenants)
        if g.tenant is not None:
            return f"tenant:{g.tenant}"
    return f"addr:{client_address()}"


def client_address() -> str:
    """The client's address (an IPv6 client as its /64), through trusted proxies only."""
    proxies: list[Network] = current_app.extensions[PROXIES_KEY]
    address = _parse(request.remote_addr or "")
    if address is None:
        return request.remote_addr or "unknown"
    forwarded = [part.strip() for part in
                 ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if part.strip()]
    while forwarded and any(address in network for network in proxies):
        nearer = _parse(forwarded.pop())
        if nearer is None:  # garbage a proxy would not write: stop at the proxy we trust
            break
        address = nearer
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)


def _parse(text: str) -> Any:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _require_key() -> Response | None:
    if not current_app.extensions[TENANTS_KEY] or request.path in PUBLIC_PATHS \
            or request.path.startswith(PUBLIC_PREFIXES) or request.method == "OPTIONS":
        return None
    try:
        tenant()
        return None
    except LookupError:
        pass
    response = problem(401, "Unauthorized", "send a valid API key in the X-API-Key header "
                       "or as Authorization: Bearer <key>", "unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="ai-backends"'
    return response


def init_app(app: Flask) -> None:
    """Read the keys and trusted proxies, then check keys before any other work."""
    app.extensions[TENANTS_KEY] = parse_api_keys(app.config["API_KEYS"])
    try:
        app.extensions[PROXIES_KEY] = [ipaddress.ip_network(item, strict=False)
                                       for item in app.config.get("TRUSTED_PROXIES", [])]
    except ValueError as exc:
        raise ValueError(f"TRUSTED_PROXIES: {exc}") from exc
    app.before_request(_require_key)
