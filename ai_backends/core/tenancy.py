"""Tenants: who owns a chat session, a cache entry and a statistic.

``API_KEYS`` entries are ``tenant:key`` (several keys may share a tenant) or a bare ``key``,
which is a tenant of its own, named after a digest of the key so the key never appears in
Redis or in logs. Without keys there is one user, the tenant ``default``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

DEFAULT_TENANT = "default"  # the one user when no API keys are configured
SHARED_SCOPE = "*shared*"  # the cache scope of every tenant when the chat cache is shared
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def bare_key_tenant(key: str) -> str:
    """The tenant name of a bare key: ``key-`` and 12 hex digits of its SHA-256."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_api_keys(entries: Iterable[str]) -> dict[str, str]:
    """Map each configured key to its tenant; ValueError on a bad tenant name or empty key."""
    tenants: dict[str, str] = {}
    for entry in entries:
        tenant, sep, key = entry.partition(":")
        if not sep:
            tenant, key = bare_key_tenant(entry), entry
        if not key or not TENANT_PATTERN.match(tenant):
            raise ValueError(
                "API_KEYS entries are 'tenant:key' or 'key'; a tenant is 1-64 of "
                f"[A-Za-z0-9_.-] and the key is not empty (entry starting {entry[:3]!r}...)")
        if tenants.get(key, tenant) != tenant:
            raise ValueError("one API key is given to two tenants")
        tenants[key] = tenant
    return tenants
