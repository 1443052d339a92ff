"""A Redis Cluster master failover as the API sees it: how long calls degrade, how long each takes.

    python benchmarks/bench_cluster_failover.py [--rounds 10] [--stop | --hang-all]

Each round starts a throwaway cluster on loopback (3 masters with a replica each,
``cluster-node-timeout`` 1 s, the helper of tests/redis_cluster.py), builds the app on it with
``REDIS_CLUSTER=true``, picks a key prefix so that the cache statistics live on the seed
node of ``REDIS_URL`` (the hardest case: the seed itself dies), then kills that master with
SIGKILL (``--stop``: freezes it with SIGSTOP, so calls time out instead of being refused)
and polls ``GET /api/v1/cache/stats`` and ``GET /health`` every 0.1 s. Printed per round:
how many 503s, the seconds until the statistics answered 200 again and until /health saw
Redis up, and the slowest single call of each while degraded. Also printed: the wall
time of one /health against the healthy cluster (median of 50), and of the probe as it
was before (a new cluster client per probe) for comparison. ``--hang-all`` instead stops
every master of a 3-master cluster and prints the time of each of a few calls.
"""

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis

from ai_backends.api.app import create_app
from ai_backends.api.context import services_of
from ai_backends.core.tenancy import DEFAULT_TENANT
from tests.redis_cluster import RedisClusterNodes, master_of, start_cluster

POLL_SECONDS = 0.1
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
GIVE_UP_SECONDS = 30.0


def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def _app(nodes: RedisClusterNodes, data_dir: str) -> Any:
    """The app on ``nodes``, with a key prefix whose statistics live on the seed node."""
    seed = nodes.ports[0]
    prefix = next(p for p in (f"bench-{uuid.uuid4().hex[:8]}:" for _ in range(500))
                  if master_of(nodes, f"{p}cache-stats:{DEFAULT_TENANT}") == seed)
    app = create_app({"DATA_DIR": data_dir, "REDIS_URL": nodes.url, "REDIS_CLUSTER": True,
                      "REDIS_KEY_PREFIX": prefix, "TESTING": True,
                      "HTTP_SIDECAR_URL": "http://127.0.0.1:9",
                      "GRPC_SIDECAR_TARGET": "127.0.0.1:9"})
    return app


def _health_costs(app: Any, nodes: RedisClusterNodes) -> tuple[float, float]:
    """Median ms of GET /health, and of one probe as it was (a new client per probe)."""
    client = app.test_client()
    health = [_timed(lambda: client.get("/health"))[1] for _ in range(50)]

    def old_probe() -> None:
        fresh = redis.RedisCluster.from_url(nodes.url, socket_timeout=0.3,
                                            socket_connect_timeout=0.3)
        fresh.ping(target_nodes=redis.RedisCluster.PRIMARIES)
        fresh.close()

    old = [_timed(old_probe)[1] for _ in range(50)]
    return statistics.median(health) * 1000, statistics.median(old) * 1000


def _round(stop: bool, data_dir: str, measure_health: bool) -> dict[str, Any]:
    nodes = start_cluster(Path(tempfile.mkdtemp(prefix="bench-cluster-")), replicas=1)
    try:
        app = _app(nodes, data_dir)
        client = app.test_client()
        result: dict[str, Any] = {}
        if measure_health:
            result["health_ms"], result["old_probe_ms"] = _health_costs(app, nodes)
        assert client.get("/api/v1/cache/stats").status_code == 200
        victim = nodes.processes[0]  # the seed node
        if stop:
            os.kill(victim.pid, signal.SIGSTOP)
        else:
            victim.kill()
            victim.wait(5)
        started = time.monotonic()
        stats_back = health_back = None
        slowest_stats = slowest_health = 0.0
        failures = 0
        while time.monotonic() - started < GIVE_UP_SECONDS and None in (stats_back, health_back):
            if stats_back is None:
                answer, took = _timed(lambda: client.get("/api/v1/cache/stats"))
                slowest_stats = max(slowest_stats, took)
                if answer.status_code == 200:
                    stats_back = time.monotonic() - started
                else:
                    assert answer.status_code == 503, answer.status_code
                    failures += 1
            if health_back is None:
                answer, took = _timed(lambda: client.get("/health"))
                slowest_health = max(slowest_health, took)
                if answer.json["dependencies"]["redis"]["up"]:
                    health_back = time.monotonic() - started
            time.sleep(POLL_SECONDS)
        services_of(app).redis.close()
        if stop:
            os.kill(victim.pid, signal.SIGCONT)
        return {**result, "stats_503": failures, "stats_back_s": stats_back,
                "health_back_s": health_back, "slowest_stats_s": slowest_stats,
                "slowest_health_s": slowest_health}
    finally:
        nodes.stop()


def _hang_all(data_dir: str, calls: int = 4) -> None:
    """Every master stopped (SIGSTOP): print what each stats and classify call costs."""
    nodes = start_cluster(Path(tempfile.mkdtemp(prefix="bench-cluster-")))
    try:
        client = _app(nodes, data_dir).test_client()
        assert client.get("/api/v1/cache/stats").status_code == 200
        for process in nodes.processes:
            os.kill(process.pid, signal.SIGSTOP)
        print("every master stopped (SIGSTOP); seconds per call")
        print("call  stats  status  classify  status")
        for number in range(1, calls + 1):
            stats, stats_s = _timed(lambda: client.get("/api/v1/cache/stats"))
            flower, flower_s = _timed(lambda: client.post("/api/v1/classify", json=SETOSA))
            print(f"{number:4}  {stats_s:5.2f}  {stats.status_code:6}  {flower_s:8.2f}  "
                  f"{flower.status_code:6}", flush=True)
    finally:
        for process in nodes.processes:
            os.kill(process.pid, signal.SIGCONT)
        nodes.stop()


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def main() -> None:
    """Run the rounds and print one line each, then a summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--stop", action="store_true",
                        help="freeze the master (SIGSTOP) instead of killing it")
    parser.add_argument("--hang-all", action="store_true",
                        help="instead: freeze every master, time a few calls")
    args = parser.parse_args()
    if args.hang_all:
        with tempfile.TemporaryDirectory() as data_dir:
            _hang_all(data_dir)
        return
    how = "SIGSTOP" if args.stop else "SIGKILL"
    print(f"{how} of the seed node's master; GET /api/v1/cache/stats and /health every "
          f"{POLL_SECONDS}s (seconds)")
    print("round  503s  stats back  health back  slowest stats  slowest health")
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        for number in range(1, args.rounds + 1):
            row = _round(args.stop, data_dir, measure_health=number == 1)
            rows.append(row)
            print(f"{number:5}  {row['stats_503']:4}  {_seconds(row['stats_back_s']):>10}  "
                  f"{_seconds(row['health_back_s']):>11}  {row['slowest_stats_s']:13.2f}  "
                  f"{row['slowest_health_s']:14.2f}", flush=True)
    back = [row["stats_back_s"] for row in rows if row["stats_back_s"] is not None]
    print(f"recovered: {len(back)}/{len(rows)}; statistics back after "
          f"min {min(back, default=0):.2f} / median {statistics.median(back or [0]):.2f} / "
          f"max {max(back, default=0):.2f} s")
    print(f"GET /health against the healthy cluster: {rows[0]['health_ms']:.1f} ms median "
          f"(a new cluster client per probe, as before: {rows[0]['old_probe_ms']:.1f} ms)")


if __name__ == "__main__":
    main()
