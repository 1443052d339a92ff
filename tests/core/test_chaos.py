"""Chaos: the stack that ``python run.py`` starts survives the loss of any of its parts.

Under a light mixed load (classification in the API, through both sidecars, cache stats,
health), each child process of the stack is killed with SIGKILL in turn: a gRPC sidecar
worker, a REST sidecar worker, each sidecar's main process, the MLflow server, the embedded
Redis and one API worker. Throughout, the API answers every request (the sidecar endpoints
with their documented 503 while their sidecar is down), each part is back within
``BACK_WITHIN_SECONDS``, every acknowledged classification has its prediction-log row,
``/metrics`` counts the restarts, and Ctrl-C afterwards leaves no process and no temp folder.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from ai_backends.classify.predlog import PredictionLog
from ai_backends.classify.training import REFERENCE_FILE
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BACK_WITHIN_SECONDS = 15.0  # sidecars, Redis, workers: measured 0.2-3.1 s
MLFLOW_BACK_WITHIN_SECONDS = 60.0  # MLflow's server: ~8 s on two idle cores, 28 s loaded
START_TIMEOUT = 90.0
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


def _named(process: psutil.Process, word: str) -> bool:
    try:
        return any(word in part for part in process.cmdline())
    except psutil.Error:
        return False


class Stack:
    """run.py as a child process, and the ways to find its parts."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, data_dir: Path,
                 mlflow_url: str) -> None:
        self.process = process
        self.url = url
        self.mlflow_url = mlflow_url
        self.data_dir = data_dir
        self.root = psutil.Process(process.pid)

    def part(self, word: str) -> psutil.Process | None:
        """The direct child of run.py whose command line contains ``word``."""
        return next((p for p in self.root.children() if _named(p, word)), None)

    def worker(self, word: str) -> psutil.Process | None:
        """A worker (child) of the part named by ``word``."""
        part = self.part(word)
        children = part.children() if part else []
        return children[0] if children else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, registry_uri: str,
          trained: tuple[Any, Path]) -> Iterator[Stack]:
    """``python run.py`` on free ports with embedded Redis and MLflow; own temp folder."""
    data_dir = tmp_path_factory.mktemp("chaos-data")
    (data_dir / REFERENCE_FILE).write_bytes((trained[1] / REFERENCE_FILE).read_bytes())
    temp = tmp_path_factory.mktemp("chaos-tmp")
    port, http_port, grpc_port, mlflow_port = free_port(), free_port(), free_port(), free_port()
    env = {**os.environ, "PORT": str(port), "HTTP_SIDECAR_PORT": str(http_port),
           "GRPC_SIDECAR_PORT": str(grpc_port), "MLFLOW_UI_PORT": str(mlflow_port),
           "HTTP_SIDECAR_URL": f"http://127.0.0.1:{http_port}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{grpc_port}", "MODEL_DIR": str(model_dir),
           "DATA_DIR": str(data_dir), "MLFLOW_TRACKING_URI": registry_uri,
           "WEB_WORKERS": "2", "WEB_THREADS": "4", "HTTP_SIDECAR_WORKERS": "2",
           "GRPC_SIDECAR_PROCESSES": "2", "LOG_LEVEL": "WARNING", "TMPDIR": str(temp),
           "RATE_LIMIT_PER_MINUTE": "0"}
    env.pop("REDIS_URL", None)
    log = open(data_dir / "run.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    stack = Stack(process, url, data_dir, f"http://127.0.0.1:{mlflow_port}")
    try:
        # The MLflow server is slow to start: the test kills it last, and waits for it then.
        _wait(lambda: _health(url).get("degraded") == [], START_TIMEOUT, "the stack to start")
        yield stack
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        process.wait()
        log.close()


def _health(url: str) -> dict[str, Any]:
    try:
        return dict(requests.get(f"{url}/health", timeout=2).json())
    except (requests.RequestException, ValueError):
        return {}


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


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
                  "redis-server": "redis"}
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
            ("API worker", "gunicorn", True),
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
                back_after[label] = _wait(replaced, BACK_WITHIN_SECONDS, f"a new {label}")
            else:
                def restarted(word: str = word, old: int = victim.pid) -> bool:
                    part = stack.part(word)
                    return part is not None and part.pid != old and (
                        _health(stack.url).get("dependencies", {})
                        .get(dependency[word], {}).get("up") is True)
                back_after[label] = _wait(restarted, BACK_WITHIN_SECONDS, f"the {label}")

        def mlflow_back() -> bool:  # the API reads the store itself: ask the server
            part = stack.part("mlflow")
            return part is not None and part.pid != mlflow.pid and _answers(stack.mlflow_url)
        _wait(mlflow_back, MLFLOW_BACK_WITHIN_SECONDS - (time.monotonic() - mlflow_killed),
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
    for name in ("grpc-sidecar", "http-sidecar", "mlflow", "redis"):
        assert f'stack_process_restarts_total{{process="{name}"}} 1.0' in metrics, name
    assert 'stack_process_restarts_total{process="api"} 0.0' in metrics  # gunicorn's own job


def test_ctrl_c_afterwards_leaves_no_process_and_no_temp_folder(stack: Stack) -> None:
    everything = [stack.root, *stack.root.children(recursive=True)]
    temp = Path(stack.root.environ()["TMPDIR"])
    assert any(temp.iterdir())  # the state folder exists while the stack runs
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=STOP_TIMEOUT) == 0
    _, alive = psutil.wait_procs(everything, timeout=1)
    assert not alive, [(p.pid, p.cmdline()) for p in alive if p.is_running()]
    assert not [p.pid for p in psutil.process_iter() if _uses(p, temp)]  # nor one we missed
    # onnxruntime's telemetry keeps one session file of a fixed name (.ses) in every temp
    # folder it runs with; it is not ours and does not accumulate.
    assert [path.name for path in temp.iterdir() if path.name != ".ses"] == []


def _uses(process: psutil.Process, temp: Path) -> bool:
    try:
        return process.environ().get("TMPDIR") == str(temp)
    except psutil.Error:
        return False
