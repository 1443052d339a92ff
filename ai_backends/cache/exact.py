"""Exact response cache: JSON values in Redis behind a small ``lookup``/``insert`` interface.

Three choices worth knowing:
- Values are stored as JSON, never pickled: anyone who can write to Redis could otherwise
  run code in the API; JSON cannot.
- One round trip each way: ``MGET`` for a whole batch, one pipelined ``SET ... EX`` per
  batch of new answers. Redis is the cost on this path (the forest takes a few µs),
  so each thread borrows one connection from the client's pool and talks on it directly:
  the client object's retry and event layers cost about twice the command itself here
  (``benchmarks/bench_request_cost.py``). The hiredis parser is used when installed. The
  connection goes back to the pool when its thread ends: a thread-per-request server
  (``python app.py``) would otherwise use up the pool's 100 connections and every later
  Redis call would fail with "Too many connections".
- Redis failures never fail a request. After an error the cache stays off for a short
  back-off (a circuit breaker), so a dead Redis costs one timeout, not one per request.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis

from ai_backends.core import metrics

log = logging.getLogger(__name__)

BREAKER_SECONDS = 2.0


def _decode(value: bytes | str | None) -> Any:
    """A stored JSON value; ``None`` for a miss or for anything that is not our JSON."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _exchange(connection: Any, commands: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """Write ``commands`` at once and read every reply; a connection that failed is closed."""
    try:
        connection.send_packed_command(connection.pack_commands(commands))
        return [connection.read_response() for _ in commands]
    except BaseException:
        connection.disconnect()  # replies may be left unread: never reuse it as it is
        raise


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class _ThreadConnection:
    """A connection borrowed from ``pool`` by one thread; it goes back when the thread ends.

    Held only in a ``threading.local``, so it is dropped (and released) when its thread's
    locals are, at the end of the thread.
    """

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection = pool.get_connection()

    def __del__(self) -> None:
        if self.pid != os.getpid():
            return  # inherited through fork: the parent owns it
        try:
            self.pool.release(self.connection)
        except Exception:  # nosec B110 - interpreter shutdown or a closed pool: nothing to return
            pass


class ExactCache:
    """Exact-match cache of JSON values, keyed by strings; degrades to misses when Redis fails."""

    def __init__(self, name: str, client: redis.Redis | None, prefix: str, ttl: int,
                 enabled: bool = True) -> None:
        self.name = name
        self.prefix = prefix
        self.ttl = ttl
        self._client = client if enabled else None
        self._down_until = 0.0
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self._local = threading.local()
        self._hits = metrics.CACHE_LOOKUPS.labels(name, "hit")
        self._misses = metrics.CACHE_LOOKUPS.labels(name, "miss")

    @property
    def available(self) -> bool:
        """True when the cache is configured and not in its back-off after an error."""
        return self._client is not None and time.monotonic() >= self._down_until

    def lookup(self, keys: list[str]) -> list[Any | None]:
        """Return the cached value for each key, ``None`` for misses (and while Redis is down)."""
        found = self._fetch(keys)
        hits = sum(value is not None for value in found)
        self._hits.inc(hits)
        self._misses.inc(len(found) - hits)
        return found

    def _fetch(self, keys: list[str]) -> list[Any | None]:
        if not keys or self._client is None or not self.available:
            return [None] * len(keys)
        try:
            [values] = self._run(("MGET", *(self.prefix + key for key in keys)))
        except redis.RedisError as exc:  # any Redis failure becomes a miss
            self._trip(exc)
            return [None] * len(keys)
        return [_decode(value) for value in values]

    def insert(self, items: dict[str, Any]) -> None:
        """Store values for ``ttl`` seconds; failures are logged and otherwise ignored."""
        if not items or self._client is None or not self.available:
            return
        try:
            self._run(*(("SET", self.prefix + key, _encode(value), "EX", self.ttl)
                        for key, value in items.items()))
        except redis.RedisError as exc:  # any Redis failure leaves the value uncached
            self._trip(exc)

    def count(self) -> int:
        """How many entries are stored under this cache's prefix."""
        return sum(1 for _ in self._keys())

    def clear(self) -> int:
        """Remove every entry under this cache's prefix; return how many were removed."""
        keys = list(self._keys())
        if self._client is None or not keys:
            return 0
        return sum(int(self._client.unlink(*keys[start:start + 1000]))
                   for start in range(0, len(keys), 1000))

    def _keys(self) -> Iterator[bytes]:
        if self._client is None:
            return iter(())
        return self._client.scan_iter(match=_glob_escape(self.prefix) + "*", count=1000)

    def _run(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` in one round trip on this thread's connection; read every reply."""
        connection = self._connection()
        try:
            return _exchange(connection, commands)
        except redis.ConnectionError:
            # Broken since its last use (Redis restarted, idle timeout): one try on a new
            # socket. A second failure, or a timeout, is Redis being down or stuck.
            return _exchange(connection, commands)

    def _connection(self) -> Any:
        """This thread's connection, borrowed on first use (and again in a forked child)."""
        held = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            assert self._client is not None
            held = self._local.held = _ThreadConnection(self._client.connection_pool)
        return held.connection

    def _trip(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self._down_until:
                log.warning("cache %s unavailable, bypassing for %.0fs: %s",
                            self.prefix, BREAKER_SECONDS, exc)
            self._down_until = time.monotonic() + BREAKER_SECONDS
            self.last_error = str(exc)
