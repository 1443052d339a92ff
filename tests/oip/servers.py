"""Start the real sidecars (``http_server.py``, ``grpc_server.py``) on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


@dataclass
class Sidecar:
    """A running sidecar process and where it listens."""

    process: subprocess.Popen[bytes]
    address: str  # base URL for REST, host:port for gRPC

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for a graceful exit, and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{output}")
        if ready():
            return
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} not ready after {START_TIMEOUT}s")


def _spawn(script: str, model_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, script],
        cwd=ROOT,
        env={**os.environ, "MODEL_DIR": str(model_dir), "LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def start_http_sidecar(model_dir: Path, wait_for: str = "ready",
                       port: int | None = None) -> Sidecar:
    """The REST sidecar (gunicorn, one worker) on ``port`` (default: a free one), once it is
    ``wait_for``; ``wait_for="live"`` is for a sidecar that is expected never to be ready."""
    port = port or free_port()
    process = _spawn("http_server.py", model_dir,
                     {"HTTP_SIDECAR_PORT": str(port), "HTTP_SIDECAR_WORKERS": "1"})
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/v2/health/{wait_for}", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False

    _wait_until(ready, process, "http_server.py")
    return Sidecar(process, url)


def start_grpc_sidecar(model_dir: Path, processes: int = 2, port: int | None = None,
                       env: dict[str, str] | None = None) -> Sidecar:
    """The gRPC sidecar on ``port`` (default: a free one), with settings ``env`` on top,
    once ServerReady says so."""
    from ai_backends.oip.generated import inference_pb2 as pb
    from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc

    port = port or free_port()
    process = _spawn("grpc_server.py", model_dir,
                     {"GRPC_SIDECAR_PORT": str(port), "GRPC_SIDECAR_THREADS": "4",
                      "GRPC_SIDECAR_PROCESSES": str(processes), **(env or {})})
    target = f"127.0.0.1:{port}"
    channel = grpc.insecure_channel(target)
    stub = pb_grpc.GRPCInferenceServiceStub(channel)

    def ready() -> bool:
        try:
            return bool(stub.ServerReady(pb.ServerReadyRequest(), timeout=0.5).ready)
        except grpc.RpcError:
            return False

    try:
        _wait_until(ready, process, "grpc_server.py")
    finally:
        channel.close()
    return Sidecar(process, target)


@contextmanager
def both_sidecars(model_dir: Path) -> Iterator[dict[str, str]]:
    """The REST and gRPC sidecars on free ports, as the API settings that point at them;
    both stopped at the end (the first too when the second fails to start)."""
    http = start_http_sidecar(model_dir)
    try:
        grpc_sidecar = start_grpc_sidecar(model_dir)
    except Exception:
        http.stop()
        raise
    try:
        yield {"HTTP_SIDECAR_URL": http.address, "GRPC_SIDECAR_TARGET": grpc_sidecar.address}
    finally:
        http.stop()
        grpc_sidecar.stop()
