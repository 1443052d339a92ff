"""Exact response cache: JSON values in Redis behind a small ``lookup``/``insert`` interface.

Three choices worth knowing:
- Values are stored as JSON, never pickled: anyone who can write to Redis could otherwise
  run code in the API; JSON cannot.
- One round trip each way: ``MGET`` for a whole batch, one pipelined ``SET ... EX`` per
  batch of new answers. The insert is written at once but its reply is read only before
  the thread's next command (by then it has long arrived), so a miss waits for Redis once,
  not twice; an insert that failed is noticed then, and trips the breaker as any failure.
  A thread's own later lookups, ``count`` and ``clear`` see its inserts applied.
  Redis is the cost on this path (the forest takes a few µs),
  so each thread borrows one connection from the client's pool and talks on it directly:
  the client object's retry and event layers cost about twice the command itself here
  (``benchmarks/bench_request_cost.py``). hiredis packs and parses. The
  connection goes back to the pool when its thread ends: a thread-per-request server
  (``python app.py``) would otherwise use up the pool's 100 connections and every later
  Redis call would fail with "Too many connections".
- Bounded: every entry expires after ``ttl`` and at most ``max_entries`` are kept. Each
  insert also records its keys in a sorted set by insertion time (``<prefix>#index``, no
  TTL, so ``volatile-lru`` never evicts it) and removes the oldest entries beyond the cap,
  all in one Lua script (one round trip, atomic). The script's text goes with every insert
  (``EVAL``, about 500 bytes; Redis keeps it compiled by its hash): with ``EVALSHA`` a Redis
  that had not seen it yet (fresh, restarted, flushed) would answer ``NOSCRIPT`` to a reply
  nobody reads in a thread-per-request server, and the cache would never store anything.
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
from hiredis import pack_command

from ai_backends.core import metrics
from ai_backends.core.redis import REDIS_ERRORS, is_cluster

log = logging.getLogger(__name__)

BREAKER_SECONDS = 2.0
INDEX_SUFFIX = "#index"

# KEYS: the index, then the entries; ARGV: ttl, cap, now, then one value per entry.
_INSERT_CAPPED = """
local ttl, cap, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ttl)
  redis.call('ZADD', KEYS[1], now, KEYS[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local excess = redis.call('ZCARD', KEYS[1]) - cap
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[1], excess)
  for j = 1, #oldest, 2 do redis.call('UNLINK', oldest[j]) end
  return excess
end
return 0
"""


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


def _exchange(connection: Any, commands: tuple[tuple[Any, ...], ...],
              read: bool = True) -> list[Any]:
    """Write ``commands`` at once and read every reply (unless ``read`` is False); a
    connection that failed is closed."""
    try:
        connection.send_packed_command(_pack(commands))
        return [connection.read_response() for _ in commands] if read else []
    except BaseException:
        connection.disconnect()  # replies may be left unread: never reuse it as it is
        raise


def _pack(commands: tuple[tuple[Any, ...], ...]) -> list[bytes]:
    """The wire bytes of ``commands``, from hiredis' packer straight away (our arguments
    are already str, bytes and numbers; the client's wrapper around it costs as much again)."""
    return [b"".join([pack_command(command) for command in commands])]


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class _ThreadConnection:
    """A connection borrowed from ``pool`` by one thread; it goes back when the thread ends.

    Held only in a ``threading.local``, so it is dropped (and released) when its thread's
    locals are, at the end of the thread. ``unread`` counts the replies still to be read (a
    deferred insert).
    """

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection = pool.get_connection()
        self.unread = 0

    def __del__(self) -> None:
        if self.pid != os.getpid():
            return  # inherited through fork: the parent owns it
        try:
            if self.unread:  # replies nobody will read: the next user must not get them
                self.connection.disconnect()
            self.pool.release(self.connection)
        except Exception:  # nosec B110 - interpreter shutdown or a closed pool: nothing to return
            pass


class ExactCache:
    """Exact-match cache of JSON values, keyed by strings; degrades to misses when Redis fails."""

    def __init__(self, name: str, client: redis.Redis | None, prefix: str, ttl: int,
                 enabled: bool = True, max_entries: int = 0) -> None:
        self.name = name
        self.prefix = prefix
        self.ttl = ttl
        self.max_entries = max_entries  # 0: only the TTL bounds the cache
        self.index_key = prefix + INDEX_SUFFIX
        self._client = client if enabled else None
        self._cluster = is_cluster(client)  # per-thread raw connections need one server
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
        if hits:
            self._hits.inc(hits)
        if hits < len(found):
            self._misses.inc(len(found) - hits)
        return found

    def _fetch(self, keys: list[str]) -> list[Any | None]:
        if not keys or self._client is None or not self.available:
            return [None] * len(keys)
        try:
            if self._cluster:  # keys spread over slots: one MGET per slot, in parallel
                cluster: Any = self._client
                values = cluster.mget_nonatomic([self.prefix + key for key in keys])
            else:
                [values] = self._run(("MGET", *(self.prefix + key for key in keys)))
        except REDIS_ERRORS as exc:  # any Redis failure becomes a miss
            self._trip(exc)
            return [None] * len(keys)
        return [_decode(value) for value in values]

    def insert(self, items: dict[str, Any]) -> None:
        """Store values for ``ttl`` seconds; failures are logged and otherwise ignored."""
        if not items or self._client is None or not self.available:
            return
        try:
            commands = [("SET", self.prefix + key, _encode(value), "EX", self.ttl)
                        for key, value in items.items()]
            if self._cluster:
                # The cap's script touches its index and the entries together, which a
                # cluster spreads over slots: there, TTLs and the cluster's maxmemory policy
                # bound the cache (docs/scale-out.md).
                pipe = self._client.pipeline(transaction=False)
                for command in commands:
                    pipe.execute_command(*command)
                pipe.execute()
            elif self.max_entries > 0:
                self._insert_capped(items)
            else:
                self._send(*commands)
        except REDIS_ERRORS as exc:  # any Redis failure leaves the value uncached
            self._trip(exc)

    def _insert_capped(self, items: dict[str, Any]) -> None:
        keys = [self.index_key, *(self.prefix + key for key in items)]
        args = [self.ttl, self.max_entries, time.time(), *map(_encode, items.values())]
        self._send(("EVAL", _INSERT_CAPPED, len(keys), *keys, *args))

    def count(self, under: str = "") -> int:
        """How many entries are stored under this cache's prefix (and then ``under``)."""
        return sum(1 for _ in self._keys(under))

    def clear(self, under: str = "") -> int:
        """Remove every entry under the prefix (and then ``under``); how many were removed."""
        keys = list(self._keys(under))
        if self._client is None:
            return 0
        removed = 0
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            pipe = self._client.pipeline(transaction=False)
            for key in chunk:  # one key per command: a cluster spreads them over slots
                pipe.unlink(key)
            if not self._cluster:
                pipe.zrem(self.index_key, *chunk)
            removed += sum(int(count) for count in pipe.execute()[:len(chunk)])
        if not under:
            self._client.delete(self.index_key)
        return removed

    def _keys(self, under: str = "") -> Iterator[bytes]:
        if self._client is None:
            return iter(())
        self._settle()
        index = self.index_key.encode()
        found = self._client.scan_iter(match=_glob_escape(self.prefix + under) + "*", count=1000)
        return (key for key in found if key != index)

    def _run(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` in one round trip on this thread's connection; read every reply."""
        held = self._held()
        self._read_unread(held)
        try:
            return _exchange(held.connection, commands)
        except redis.ConnectionError:
            # Broken since its last use (Redis restarted, idle timeout): one try on a new
            # socket. A second failure, or a timeout, is Redis being down or stuck.
            return _exchange(held.connection, commands)

    def _send(self, *commands: tuple[Any, ...]) -> None:
        """Write ``commands`` on this thread's connection; their replies are read later."""
        held = self._held()
        self._read_unread(held)
        try:
            _exchange(held.connection, commands, read=False)
        except redis.ConnectionError:  # as in _run: one try on a new socket
            _exchange(held.connection, commands, read=False)
        held.unread += len(commands)

    def _settle(self) -> None:
        """Wait for this thread's earlier inserts, so that what it does next through the
        client (``count``, ``clear``) sees them applied, as its own lookups do."""
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid() or not held.unread:
            return
        try:
            self._read_unread(held)
        except REDIS_ERRORS as exc:
            self._trip(exc)

    def _read_unread(self, held: _ThreadConnection) -> None:
        """Read the replies of earlier ``_send`` calls (an error among them raises)."""
        unread, held.unread = held.unread, 0
        try:
            for _ in range(unread):
                held.connection.read_response()
        except BaseException:
            held.connection.disconnect()  # the other replies are lost with it
            raise

    def _held(self) -> _ThreadConnection:
        """This thread's connection, borrowed on first use (and again in a forked child)."""
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            assert self._client is not None
            held = self._local.held = _ThreadConnection(self._client.connection_pool)
        return held

    def _trip(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self._down_until:
                log.warning("cache %s unavailable, bypassing for %.0fs: %s",
                            self.prefix, BREAKER_SECONDS, exc)
            self._down_until = time.monotonic() + BREAKER_SECONDS
            self.last_error = str(exc)
