"""Chaos: the stack that ``python run.py`` starts survives the loss of any of its parts.

Under a light mixed load (classification in the API, through both sidecars, cache stats,
health), each child process of the stack is killed with SIGKILL in turn: a gRPC sidecar
worker, a REST sidecar worker, each sidecar's main process, the MLflow server, the embedded
Redis, the model host (the embedded LLM and embeddings) and one API worker. Throughout, the API answers every request (the sidecar endpoints
with their documented 503 while their sidecar is down), each part is back within
``BACK_WITHIN_SECONDS``, every acknowledged classification has its prediction-log row,
``/metrics`` counts the restarts, and Ctrl-C afterwards leaves no process and no temp folder.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ai_backends.classify.predlog import PredictionLog
from ai_backends.classify.training import REFERENCE_FILE
from tests.stack import Stack, answers, ctrl_c_leaves_nothing, health, launch_stack, wait

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BACK_WITHIN_SECONDS = 15.0  # sidecars, Redis, workers: measured 0.2-3.1 s
MLFLOW_BACK_WITHIN_SECONDS = 60.0  # MLflow's server: ~8 s on two idle cores, 28 s loaded
STOP_TIMEOUT = 45.0  # run.py's deadline per stop step is 20 s; with nothing in flight, ~10 s
FLOWERS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5},
]
# Endpoint -> statuses it may answer while a part is down (503: documented "unavailable").
LOAD: dict[str, set[int]] = {
    "/api/v1/classify": {200},
    "/api/v1/classify-http": {200, 503},
    "/api/v1/classify-grpc": {200, 503},
    "/api/v1/cache/stats": {200, 503},
    "/health": {200},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, registry_uri: str,
          trained: tuple[Any, Path]) -> Iterator[Stack]:
    """``python run.py`` on free ports with embedded Redis and MLflow; own temp folder."""
    with launch_stack(tmp_path_factory, model_dir, registry_uri, trained[1] / REFERENCE_FILE,
                      "chaos") as stack:
        yield stack


class Load:
    """Two clients cycling through ``LOAD``; a request is retried once on a new connection
    (a killed API worker takes its open connections with it), never on an answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: list[tuple[str, int, str]] = []
        self.unanswered: list[str] = []
        self.threads = [threading.Thread(target=self._client, args=(seed,)) for seed in (1, 2)]

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self.stop.is_set():
            path = rng.choice(list(LOAD))
            for attempt in (1, 2):
                try:
                    if path.startswith("/api/v1/classify"):
                        response = session.post(f"{self.url}{path}", json=rng.choice(FLOWERS),
                                                timeout=10)
                    else:
                        response = session.get(f"{self.url}{path}", timeout=10)
                except requests.ConnectionError as exc:
                    session = requests.Session()
                    if attempt == 2:
                        self.unanswered.append(f"{path}: {exc}")
                    continue
                self.answers.append((path, response.status_code,
                                     response.headers.get("X-Request-ID", "")))
                break
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def test_killing_each_part_under_load_loses_nothing(stack: Stack) -> None:
    dependency = {"grpc_server.py": "grpc_sidecar", "http_server.py": "http_sidecar",
                  "redis-server": "redis", "ai_backends.llm.host": "llm"}
    back_after: dict[str, float] = {}
    with Load(stack.url) as load:
        # MLflow's server is the slowest part (8 s to answer on idle cores, 30 s on busy
        # ones): it is killed first, still starting, and checked last, so that its restart
        # overlaps the others' (each of those is back before the next kill).
        mlflow = stack.part("mlflow")
        assert mlflow is not None
        mlflow.kill()
        mlflow_killed = time.monotonic()
        for label, word, is_worker in [
            ("gRPC sidecar worker", "grpc_server.py", True),
            ("REST sidecar worker", "http_server.py", True),
            ("gRPC sidecar", "grpc_server.py", False),
            ("REST sidecar", "http_server.py", False),
            ("embedded Redis", "redis-server", False),
            ("model host", "ai_backends.llm.host", False),
            ("API worker", "app:app", True),
        ]:
            victim = stack.worker(word) if is_worker else stack.part(word)
            assert victim is not None, f"no {label} to kill"
            victim.kill()
            if is_worker:
                part = stack.part(word)
                assert part is not None

                def replaced(part: psutil.Process = part, old: int = victim.pid) -> bool:
                    pids = [c.pid for c in part.children()]
                    return old not in pids and len(pids) == 2
                back_after[label] = wait(replaced, BACK_WITHIN_SECONDS, f"a new {label}")
            else:
                def restarted(word: str = word, old: int = victim.pid) -> bool:
                    part = stack.part(word)
                    return part is not None and part.pid != old and (
                        health(stack.url).get("dependencies", {})
                        .get(dependency[word], {}).get("up") is True)
                back_after[label] = wait(restarted, BACK_WITHIN_SECONDS, f"the {label}")

        def mlflow_back() -> bool:  # the API reads the store itself: ask the server
            part = stack.part("mlflow")
            return part is not None and part.pid != mlflow.pid and answers(stack.mlflow_url)
        wait(mlflow_back, MLFLOW_BACK_WITHIN_SECONDS - (time.monotonic() - mlflow_killed),
              "the MLflow server")
        back_after["MLflow server"] = time.monotonic() - mlflow_killed
    print("back after (s):", {k: round(v, 1) for k, v in back_after.items()})

    assert not load.unanswered, load.unanswered  # the API answered throughout
    statuses = Counter((path, status) for path, status, _ in load.answers)
    unexpected = {key: n for key, n in statuses.items() if key[1] not in LOAD[key[0]]}
    assert not unexpected, statuses
    assert statuses[("/api/v1/classify", 200)] > 10, statuses

    classified = sorted(rid for path, status, rid in load.answers
                        if path.startswith("/api/v1/classify") and status == 200)
    rows = PredictionLog(stack.data_dir / "predictions.csv").read()
    assert sorted(row["request_id"] for row in rows) == classified  # nothing acknowledged lost

    metrics = requests.get(f"{stack.url}/metrics", timeout=5).text
    families = {family.name for family in text_string_to_metric_families(metrics)}
    assert {"stack_process_restarts", "http_requests"} <= families  # one valid exposition
    for name in ("grpc-sidecar", "http-sidecar", "mlflow", "redis", "model-host"):
        assert f'stack_process_restarts_total{{process="{name}"}} 1.0' in metrics, name
    assert 'stack_process_restarts_total{process="api"} 0.0' in metrics  # the server's own job


def test_ctrl_c_afterwards_leaves_no_process_and_no_temp_folder(stack: Stack) -> None:
    ctrl_c_leaves_nothing(stack, STOP_TIMEOUT)
