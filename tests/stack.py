"""``python run.py`` as a test fixture: the whole stack on free ports, and its parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0


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


def health(url: str) -> dict[str, Any]:
    try:
        return dict(requests.get(f"{url}/health", timeout=2).json())
    except (requests.RequestException, ValueError):
        return {}


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def uses_temp(process: psutil.Process, temp: Path) -> bool:
    try:
        return process.environ().get("TMPDIR") == str(temp)
    except psutil.Error:
        return False


@contextmanager
def launch_stack(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, registry_uri: str,
                 reference: Path, name: str, **settings: str) -> Iterator[Stack]:
    """``python run.py`` on free ports with embedded Redis and MLflow and a temp folder of
    its own (TMPDIR); ``settings`` are extra environment variables."""
    data_dir = tmp_path_factory.mktemp(f"{name}-data")
    (data_dir / reference.name).write_bytes(reference.read_bytes())
    temp = tmp_path_factory.mktemp(f"{name}-tmp")
    port, http_port, grpc_port, mlflow_port = free_port(), free_port(), free_port(), free_port()
    env = {**os.environ, "PORT": str(port), "HTTP_SIDECAR_PORT": str(http_port),
           "MODEL_HOST_PORT": str(free_port()),
           "GRPC_SIDECAR_PORT": str(grpc_port), "MLFLOW_UI_PORT": str(mlflow_port),
           "HTTP_SIDECAR_URL": f"http://127.0.0.1:{http_port}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{grpc_port}", "MODEL_DIR": str(model_dir),
           "DATA_DIR": str(data_dir), "MLFLOW_TRACKING_URI": registry_uri,
           "WEB_WORKERS": "2", "WEB_THREADS": "4", "HTTP_SIDECAR_WORKERS": "2",
           "GRPC_SIDECAR_PROCESSES": "2", "LOG_LEVEL": "WARNING", "TMPDIR": str(temp),
           "RATE_LIMIT_PER_MINUTE": "0", **settings}
    env.pop("REDIS_URL", None)
    env.pop("MODEL_HOST_URL", None)  # run.py starts its own model host
    log = open(data_dir / "run.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    stack = Stack(process, url, data_dir, f"http://127.0.0.1:{mlflow_port}")
    try:
        wait(lambda: health(url).get("degraded") == [], START_TIMEOUT, "the stack to start")
        yield stack
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        process.wait()
        log.close()




def ctrl_c_leaves_nothing(stack: Stack, timeout: float) -> float:
    """SIGINT to run.py; assert it exits 0 within ``timeout`` leaving no process of its tree
    and nothing in its temp folder; return how long it took."""
    everything = [stack.root, *stack.root.children(recursive=True)]
    temp = Path(stack.root.environ()["TMPDIR"])
    assert any(temp.iterdir())  # the state folder exists while the stack runs
    started = time.monotonic()
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=timeout) == 0
    took = time.monotonic() - started
    _, alive = psutil.wait_procs(everything, timeout=1)
    assert not alive, [(p.pid, p.cmdline()) for p in alive if p.is_running()]
    assert not [p.pid for p in psutil.process_iter() if uses_temp(p, temp)]  # nor one we missed
    # onnxruntime's telemetry keeps one session file of a fixed name (.ses) in every temp
    # folder it runs with; it is not ours and does not accumulate.
    assert [path.name for path in temp.iterdir() if path.name != ".ses"] == []
    return took
