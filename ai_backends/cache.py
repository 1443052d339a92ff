"""Exact response cache: Flask-Caching on Redis, behind a small ``lookup``/``insert`` interface.

Two choices worth knowing:
- Values are stored as JSON, never pickled. Flask-Caching's Redis backend pickles by
  default, so anyone who can write to Redis could run code in the API; JSON cannot.
- Redis failures never fail a request. After an error the cache stays off for a short
  back-off (a circuit breaker), so a dead Redis costs one timeout, not one per request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from cachelib.serializers import BaseSerializer
from flask import Flask
from flask_caching import Cache
from flask_caching.backends.rediscache import RedisCache

log = logging.getLogger(__name__)

BREAKER_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 0.25


class JsonSerializer(BaseSerializer):
    """Serializes cache values as JSON text instead of pickle."""

    def dumps(self, value: Any, protocol: int | None = None) -> bytes:  # noqa: ARG002
        """Encode a JSON-compatible value."""
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, value: bytes | None) -> Any:
        """Decode a value written by ``dumps``; anything else reads as a miss."""
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return None


class JsonRedisCache(RedisCache):
    """Flask-Caching's Redis backend with the JSON serializer (used as ``CACHE_TYPE``)."""

    serializer = JsonSerializer()  # type: ignore[assignment]


class ExactCache:
    """Exact-match cache of JSON values, keyed by strings; degrades to misses when Redis fails."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._cache = Cache()
        self._enabled = False
        self._down_until = 0.0
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def init_app(self, app: Flask, redis_url: str | None, ttl: int, enabled: bool) -> None:
        """Bind to ``app``; with no URL or ``enabled`` false every lookup is a miss."""
        self._enabled = enabled and bool(redis_url)
        config: dict[str, Any] = {"CACHE_TYPE": "NullCache"}
        if self._enabled:
            config = {
                "CACHE_TYPE": "ai_backends.cache.JsonRedisCache",
                "CACHE_REDIS_URL": redis_url,
                "CACHE_DEFAULT_TIMEOUT": ttl,
                "CACHE_KEY_PREFIX": self.prefix,
                "CACHE_OPTIONS": {
                    "socket_timeout": SOCKET_TIMEOUT_SECONDS,
                    "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
                },
            }
        self._cache.init_app(app, config=config)

    @property
    def available(self) -> bool:
        """True when the cache is configured and not in its back-off after an error."""
        return self._enabled and time.monotonic() >= self._down_until

    def lookup(self, keys: list[str]) -> list[Any | None]:
        """Return the cached value for each key, ``None`` for misses (and while Redis is down)."""
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            values = self._cache.get_many(*keys)
        except Exception as exc:  # any Redis failure becomes a miss
            self._trip(exc)
            return [None] * len(keys)
        return list(values)

    def insert(self, items: dict[str, Any]) -> None:
        """Store values; failures are logged and otherwise ignored."""
        if not items or not self.available:
            return
        try:
            self._cache.set_many(items)
        except Exception as exc:  # any Redis failure leaves the value uncached
            self._trip(exc)

    def clear(self) -> None:
        """Remove every entry under this cache's prefix."""
        if self._enabled:
            self._cache.clear()

    def _trip(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self._down_until:
                log.warning("cache %s unavailable, bypassing for %.0fs: %s",
                            self.prefix, BREAKER_SECONDS, exc)
            self._down_until = time.monotonic() + BREAKER_SECONDS
            self.last_error = str(exc)
