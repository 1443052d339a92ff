"""Start a throwaway Redis Cluster (masters and optional replicas) for tests; stop it by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess  # nosec B404 - starts redis-server with fixed arguments
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RedisClusterNodes:
    """The redis-server processes of one cluster."""

    host: str
    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A seed node's URL."""
        return f"redis://{self.host}:{self.ports[0]}/0"

    def stop(self) -> None:
        """Stop every node by its PID."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(10)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports nobody listens on now (and whose cluster bus port +10000 is free too)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port + 10000 < 65536 and port not in ports:
            ports.append(port)
    return ports


def start_cluster(folder: Path, host: str = "127.0.0.1", masters: int = 3, replicas: int = 0,
                  ports: Sequence[int] | None = None, prefix: Sequence[str] = ()
                  ) -> RedisClusterNodes:
    """Start ``masters * (1 + replicas)`` nodes on ``host`` and join them into a cluster.

    ``prefix`` runs each command inside something else (``ip netns exec NS``).
    """
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        raise RuntimeError("redis-server and redis-cli are needed for a Redis Cluster")
    count = masters * (1 + replicas)
    nodes = RedisClusterNodes(host, list(ports or free_ports(count, host)))
    try:
        for port in nodes.ports:
            workdir = folder / f"redis-{port}"
            workdir.mkdir(parents=True, exist_ok=True)
            nodes.processes.append(subprocess.Popen(  # nosec B603
                [*prefix, "redis-server", "--port", str(port), "--bind", host,
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "1000", "--protected-mode", "no",
                 # replicas sync at once and may always take over (a test kills masters)
                 "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0",
                 "--save", "", "--appendonly", "no", "--dir", str(workdir),
                 "--logfile", str(workdir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        for port in nodes.ports:
            _wait_ping(prefix, host, port)
        subprocess.run(  # nosec B603
            [*prefix, "redis-cli", "--cluster", "create",
             *(f"{host}:{port}" for port in nodes.ports),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=30)
        _wait_ok(prefix, host, nodes.ports)
    except BaseException:
        nodes.stop()
        raise
    return nodes


def _cli(prefix: Sequence[str], host: str, port: int, *args: str) -> str:
    result = subprocess.run(  # nosec B603
        [*prefix, "redis-cli", "-h", host, "-p", str(port), *args],
        capture_output=True, text=True, timeout=5)
    return result.stdout


def _wait_ping(prefix: Sequence[str], host: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while "PONG" not in _cli(prefix, host, port, "ping"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on {host}:{port} did not start")
        time.sleep(0.05)


def _wait_ok(prefix: Sequence[str], host: str, ports: Sequence[int]) -> None:
    deadline = time.monotonic() + 30
    def ready(port: int) -> bool:
        if "cluster_state:ok" not in _cli(prefix, host, port, "cluster", "info"):
            return False
        replication = _cli(prefix, host, port, "info", "replication")
        return "role:master" in replication or "master_link_status:up" in replication

    while not all(ready(port) for port in ports):
        if time.monotonic() > deadline:
            raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
        time.sleep(0.1)


def master_of(nodes: RedisClusterNodes, key: str, prefix: Sequence[str] = ()) -> int:
    """The port of the master that serves ``key`` now."""
    live = [port for port, process in zip(nodes.ports, nodes.processes, strict=True)
            if process.poll() is None]
    slot = _cli(prefix, nodes.host, live[0], "cluster", "keyslot", key).strip()
    for line in _cli(prefix, nodes.host, live[0], "cluster", "nodes").splitlines():
        parts = line.split()
        if "master" not in parts[2] or "fail" in parts[2]:
            continue
        for span in parts[8:]:
            low, _, high = span.partition("-")
            if low.isdigit() and int(low) <= int(slot) <= int(high or low):
                return int(parts[1].split(":")[1].split("@")[0])
    raise RuntimeError(f"no master serves slot {slot}")
