"""Memory of the whole stack that ``python run.py`` starts, idle and after every capability.

    python benchmarks/bench_memory.py

Starts run.py's supervisor on free ports with its own data folder, waits for /health, then
prints RSS and PSS per process (PSS divides shared pages, such as the memory-mapped LLM file,
among the processes that map them, so the PSS total is what the stack really costs), once
idle and once after a warm-up that calls each capability: classification (local, detailed,
both sidecars, registry), generation, the injection screen, chat, the semantic cache and a
drift report, on a kept-alive connection pinned to each API worker (found through
``/proc/net/tcp``), so every worker is warmed, not whichever the kernel picked (with
``DRIFT_JOB_LINGER_SECONDS`` set, once more when the drift report processes have ended),
and after a visit to the MLflow UI (which run.py starts on its first connection; with
``MLFLOW_UI_IDLE_SECONDS`` set, once more when it has stopped again).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess  # nosec B404 - runs our own run.py with fixed arguments
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_classify import _free_port  # noqa: E402
from benchmarks.bench_servers import tree  # noqa: E402

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def memory(pid: int) -> tuple[str, float, float]:
    """Command, RSS and PSS (MB) of one process."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return "", 0.0, 0.0
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if ":" in line}
    return command, values.get("Rss", 0) / 1024, values.get("Pss", 0) / 1024


def report(title: str, root: int) -> str:
    """Print one table of the stack's processes; return "RSS / PSS" totals in MB."""
    rows = [(pid, *memory(pid)) for pid in tree(root)]
    print(f"\n{title}\n\n| process | RSS MB | PSS MB |\n|---|---|---|")
    for pid, command, rss, pss in rows:
        if rss:
            print(f"| {pid} {command[:70]} | {rss:,.0f} | {pss:,.0f} |")
    rss_total, pss_total = sum(row[2] for row in rows), sum(row[3] for row in rows)
    print(f"| **total** | **{rss_total:,.0f}** | **{pss_total:,.0f}** |")
    return f"{rss_total:,.0f} / {pss_total:,.0f} MB"


def socket_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server side of the loopback connection from
    ``client_port`` (``/proc/net/tcp`` names its socket, ``/proc/PID/fd`` its holder)."""
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)) == (
                server_port, client_port):
            inode = fields[9]
    for pid in pids:
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]"
                   for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    return None


def api_workers(root: int) -> list[int]:
    """The API's worker processes: granian's or gunicorn's children in the stack."""
    servers = {pid: memory(pid)[0] for pid in tree(root)}
    return [pid for pid, command in servers.items()
            if ("granian_main" in command or "gunicorn" in command)
            and any(parent in servers and "granian_main" in servers[parent]
                    or parent in servers and "gunicorn" in servers[parent]
                    for parent in [_parent(pid)])]


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class Pinned:
    """A kept-alive connection to one API worker, made again (to the same worker) when the
    server closes it."""

    def __init__(self, port: int, pid: int, workers: list[int]) -> None:
        self.port, self.pid, self.workers = port, pid, workers
        self.connection: http.client.HTTPConnection | None = None

    def connect(self) -> bool:
        """New connections until one lands on the worker (False after 50 tries)."""
        for _ in range(50):
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
            connection.request("GET", "/health")
            connection.getresponse().read()
            assert connection.sock is not None
            owner = socket_owner(self.port, connection.sock.getsockname()[1], self.workers)
            if owner == self.pid:
                self.connection = connection
                return True
            connection.close()
        return False

    def call(self, method: str, path: str, body: Mapping[str, object] | None) -> int:
        """One request on the worker's connection; its status."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self.connection is None or self.connection.sock is None:
                self.connect()
            assert self.connection is not None
            try:
                self.connection.request(method.upper(), path, body=data,
                                        headers={"Content-Type": "application/json"})
                response = self.connection.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


# Over 400 characters, so the injection screen's gates (static embeddings) run too.
LONG_PROMPT = "Summarize: " + " ".join(
    f"The river passed the old mill number {i} and turned east toward the hills." for i in range(8))


def warm_up(port: int, root: int) -> None:
    """Call every capability (small answers) on a connection pinned to each API worker."""
    calls: list[tuple[str, str, Mapping[str, object] | None]] = [
        ("post", "/api/v1/classify", SETOSA), ("post", "/api/v1/classify-detailed", SETOSA),
        ("post", "/api/v1/classify-http", SETOSA), ("post", "/api/v1/classify-grpc", SETOSA),
        ("post", "/api/v1/classify-registry?model_format=onnx&alias=production", SETOSA),
        ("post", "/api/v1/generate", {"prompt": "Say hi.", "max_tokens": 4}),
        ("post", "/api/v1/generate-secure", {"prompt": LONG_PROMPT, "max_tokens": 4}),
        ("post", "/api/v1/chat", {"prompt": "Hello", "max_tokens": 4}),
        ("post", "/api/v1/chat-semantic", {"prompt": "What is AI?", "max_tokens": 4}),
    ]
    workers = api_workers(root)
    print(f"\nwarm-up on each of the {len(workers)} API workers")
    for pid in sorted(workers):
        pinned = Pinned(port, pid, workers)
        if not pinned.connect():
            print(f"worker {pid}: no connection reached it in 50 tries")
            continue
        statuses = [pinned.call(*request) for request in calls * 2]
        statuses += [pinned.call("post", "/api/v1/classify", SETOSA) for _ in range(20)]
        statuses += [pinned.call("get", "/api/v1/drift-report?limit=40", None)
                     for _ in range(2)]
        print(f"worker {pid}: {len(statuses)} requests, statuses {sorted(set(statuses))}")
        if pinned.connection is not None:
            pinned.connection.close()


def visit_ui(url: str) -> None:
    """Open the MLflow UI as a browser would: its page and the registry list it shows (the
    first request waits while an on-demand UI starts MLflow)."""
    for path in ("/health", "/", "/ajax-api/2.0/mlflow/registered-models/search"):
        requests.get(url + path, timeout=300).raise_for_status()


def main() -> int:
    """Start the stack, measure idle and warm, stop it."""
    data = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    shutil.copytree(ROOT / "data", data, dirs_exist_ok=True)
    ports = {name: str(_free_port()) for name in ("api", "http", "grpc", "mlflow", "host")}
    env = {**os.environ, "DATA_DIR": str(data), "PORT": ports["api"], "LOG_LEVEL": "WARNING",
           "HTTP_SIDECAR_PORT": ports["http"], "GRPC_SIDECAR_PORT": ports["grpc"],
           "HTTP_SIDECAR_URL": f"http://127.0.0.1:{ports['http']}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{ports['grpc']}", "MLFLOW_UI_PORT": ports["mlflow"],
           "MODEL_HOST_PORT": ports["host"], "RATE_LIMIT_PER_MINUTE": "0"}
    env.pop("REDIS_URL", None)  # the embedded Redis, as a fresh machine runs it
    env.pop("MODEL_HOST_URL", None)  # the model host run.py starts
    stack = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{ports['api']}"
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/health", timeout=2).json()["status"] == "ok":
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        time.sleep(2)
        idle = report("Idle, every dependency up", stack.pid)
        warm_up(int(ports["api"]), stack.pid)
        warm = report("After a warm-up that calls every capability", stack.pid)
        print(f"\nRSS / PSS totals: {idle} idle, {warm} warm")
        linger = float(os.environ.get("DRIFT_JOB_LINGER_SECONDS", 0))
        if linger:  # drift report processes (Evidently, pandas) end this long after a report
            time.sleep(linger + 5)
            later = report("The same, once the drift report processes have ended", stack.pid)
            print(f"\nRSS / PSS totals once they ended: {later}")
        visit_ui(f"http://127.0.0.1:{ports['mlflow']}")
        visited = report("The same after a visit to the MLflow UI", stack.pid)
        print(f"\nRSS / PSS totals after a visit to the MLflow UI: {visited}")
        ui_idle = float(os.environ.get("MLFLOW_UI_IDLE_SECONDS", 0))
        if ui_idle:  # an on-demand UI stops MLflow this long after its last connection
            time.sleep(ui_idle + 15)
            later = report("The same, once the MLflow UI has been idle", stack.pid)
            print(f"\nRSS / PSS totals once the MLflow UI has been idle: {later}")
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
