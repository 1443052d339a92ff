"""Everything in Redis works on a 3-master Redis Cluster, and survives a master's failover.

The cluster runs on loopback (six redis-server processes: 3 masters, 3 replicas); the API is
the real app built by ``create_app`` with ``REDIS_CLUSTER=true`` and a seed node's URL.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ai_backends.api.app import create_app
from ai_backends.api.context import services_of
from ai_backends.core.tenancy import DEFAULT_TENANT
from tests.redis_cluster import RedisClusterNodes, free_ports, master_of, start_cluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
FLOWERS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.0, 3.4, 1.5, 0.2],
           [6.7, 3.1, 4.4, 1.4], [6.3, 2.8, 5.1, 1.5], [4.9, 3.0, 1.4, 0.2], [5.8, 2.7, 5.1, 1.9]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """Three masters with a replica each on 127.0.0.1."""
    try:
        nodes = start_cluster(tmp_path_factory.mktemp("redis-cluster"), replicas=1)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield nodes
    nodes.stop()


@pytest.fixture
def api(cluster: RedisClusterNodes, app_config: dict[str, Any]) -> Any:
    """The app on the cluster, under a key prefix of its own."""
    return create_app({**app_config, "REDIS_URL": cluster.url, "REDIS_CLUSTER": True,
                       "REDIS_KEY_PREFIX": f"t-{uuid.uuid4().hex[:8]}:",
                       "RATE_LIMIT_PER_MINUTE": 3})


def _batch(client: Any) -> list[bool]:
    answer = client.post("/api/v1/classify", json={"samples": [
        dict(zip(("sepal_length", "sepal_width", "petal_length", "petal_width"), row,
                 strict=True)) for row in FLOWERS]})
    assert answer.status_code == 200, answer.json
    return [p["cache_hit"] for p in answer.json["predictions"]]


def test_exact_cache_spreads_over_masters_and_health_names_the_cluster(
        api: Any, cluster: RedisClusterNodes) -> None:
    client = api.test_client()
    assert _batch(client) == [False] * len(FLOWERS)
    assert _batch(client) == [True] * len(FLOWERS)  # MGET per slot, across masters
    prefix = services_of(api).config["REDIS_KEY_PREFIX"]
    holders = {master_of(cluster, key.decode())
               for key in services_of(api).redis.scan_iter(match=f"{prefix}classify:*")}
    assert len(holders) >= 2  # the entries really live on several masters
    redis_health = client.get("/health").json["dependencies"]["redis"]
    assert redis_health["up"] and redis_health["implementation"] == "external (cluster)"
    assert client.delete("/api/v1/cache").status_code == 200  # the chat caches
    # SCAN on every master, UNLINK per slot
    assert services_of(api).classification.cache.clear() == len(FLOWERS)
    assert _batch(client) == [False] * len(FLOWERS)


def test_semantic_cache_chat_history_and_rate_limit_on_the_cluster(api: Any) -> None:
    found = services_of(api)
    semantic = found.cached_chat.semantic  # type: ignore[union-attr]
    assert "{" in semantic.prefix  # one slot for the keys its transactions touch together
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    entry = semantic.insert("What is AI?", vector, "Artificial intelligence.", "m", {}, "s", 1.0)
    other = type(semantic)(found.redis, semantic.prefix, 0.8, 100, 3600)  # another worker
    assert other.lookup("What is AI?", vector, "s").hit.id == entry  # type: ignore[union-attr]
    history = found.chat().history_of(DEFAULT_TENANT, "cluster-session-1")
    history.add_user_message("hello")
    history.add_ai_message("hi there")
    assert [m.content for m in history.messages] == ["hello", "hi there"]
    assert history.total_messages() == 2
    allowed = [found.rate_limiter.hit("llm", "client-a") for _ in range(4)]
    assert allowed[:3] == [None] * 3 and allowed[3] is not None


def failed_over(cluster: RedisClusterNodes, key: str, seed: int) -> bool:
    """True once a master other than ``seed`` serves ``key``; False while none does yet (the
    node asked may learn of the promotion after the app's client has)."""
    try:
        return master_of(cluster, key) != seed
    except RuntimeError:
        return False


def test_a_master_failover_degrades_then_recovers_without_restart(
        cluster: RedisClusterNodes, app_config: dict[str, Any]) -> None:
    # The hardest case: the master killed is the seed node of REDIS_URL, and it holds what
    # GET /api/v1/cache/stats reads (the counters of the one tenant of an app without keys).
    seed = int(cluster.url.rsplit(":", 1)[1].split("/")[0])
    prefix = next(p for p in (f"t-{uuid.uuid4().hex[:8]}:" for _ in range(200))
                  if master_of(cluster, f"{p}cache-stats:{DEFAULT_TENANT}") == seed)
    api = create_app({**app_config, "REDIS_URL": cluster.url, "REDIS_CLUSTER": True,
                      "REDIS_KEY_PREFIX": prefix})
    stats_key = services_of(api).semantic_chat().stats.key_of(DEFAULT_TENANT)
    assert master_of(cluster, stats_key) == seed
    client = api.test_client()
    assert client.get("/api/v1/cache/stats").status_code == 200
    victim = cluster.processes[cluster.ports.index(seed)]
    victim.kill()
    victim.wait(5)
    deadline = time.monotonic() + 30
    statuses = []
    while time.monotonic() < deadline:
        # Classification never fails (a dead cache is a miss); the statistics answer 503
        # while their slot has no master, and 200 again once a replica has taken over.
        assert client.post("/api/v1/classify", json=SETOSA).status_code == 200
        answer = client.get("/api/v1/cache/stats")
        statuses.append(answer.status_code)
        if answer.status_code == 503:
            assert "store unreachable" in answer.json["detail"], answer.json
        elif answer.status_code == 200 and failed_over(cluster, stats_key, seed):
            break
        time.sleep(0.3)
    assert statuses[0] == 503 and statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}  # degraded with the documented 503, never a 500
    services_of(api).redis.set(f"{prefix}after-failover", b"1")
    assert services_of(api).redis.get(f"{prefix}after-failover") == b"1"
    deadline = time.monotonic() + 10  # /health relearns the map on its own connections
    while not client.get("/health").json["dependencies"]["redis"]["up"]:
        assert time.monotonic() < deadline, "the Redis probe never saw the new master"
        time.sleep(0.3)


def test_a_cluster_that_hangs_degrades_each_call_within_seconds(
        app_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    nodes = start_cluster(tmp_path_factory.mktemp("hung-cluster"))
    try:
        app = create_app({**app_config, "REDIS_URL": nodes.url, "REDIS_CLUSTER": True,
                          "REDIS_KEY_PREFIX": f"t-{uuid.uuid4().hex[:8]}:"})
        client = app.test_client()
        assert client.get("/api/v1/cache/stats").status_code == 200
        for process in nodes.processes:  # every node accepts connections, none answers
            os.kill(process.pid, signal.SIGSTOP)
        try:
            # Without the back-off each of these calls asked every node in turn, three
            # times: 6 s each. Now a refresh of the slot map is tried once in a while.
            for _ in range(3):
                started = time.monotonic()
                assert client.get("/api/v1/cache/stats").status_code == 503
                assert time.monotonic() - started < 4
                started = time.monotonic()
                assert client.post("/api/v1/classify", json=SETOSA).status_code == 200
                assert time.monotonic() - started < 5
        finally:
            for process in nodes.processes:
                os.kill(process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while client.get("/api/v1/cache/stats").status_code != 200:
            assert time.monotonic() < deadline, "the app never used the cluster again"
            time.sleep(0.3)
    finally:
        nodes.stop()


def test_a_replica_starts_before_the_cluster_and_uses_it_once_it_is_up(
        app_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    ports = free_ports(3)
    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{ports[0]}/0",
                      "REDIS_CLUSTER": True, "REDIS_KEY_PREFIX": f"t-{uuid.uuid4().hex[:8]}:"})
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200  # Redis only degrades features
    assert client.post("/api/v1/classify", json=SETOSA).status_code == 200  # a cache miss
    assert client.get("/api/v1/cache/stats").status_code == 503
    nodes = start_cluster(tmp_path_factory.mktemp("late-cluster"), ports=ports)
    try:
        deadline = time.monotonic() + 20
        while client.get("/api/v1/cache/stats").status_code != 200:
            assert time.monotonic() < deadline, "the app never used the cluster"
            time.sleep(0.5)
        client.post("/api/v1/classify", json=SETOSA)
        deadline = time.monotonic() + 10
        while client.post("/api/v1/classify", json=SETOSA).headers["X-Cache"] != "HIT":
            assert time.monotonic() < deadline, "the exact cache never came back"
            time.sleep(0.5)
    finally:
        nodes.stop()
