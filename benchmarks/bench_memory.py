"""Memory of the whole stack that ``python run.py`` starts, idle and after every capability.

    python benchmarks/bench_memory.py

Starts run.py's supervisor on free ports with its own data folder, waits for /health, then
prints RSS and PSS per process (PSS divides shared pages, such as the memory-mapped LLM file,
among the processes that map them, so the PSS total is what the stack really costs), once
idle and once after a warm-up that calls each capability: classification (local, detailed,
both sidecars, registry), generation, chat, the semantic cache and a drift report (with
``DRIFT_JOB_LINGER_SECONDS`` set, once more when the drift report processes have ended).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess  # nosec B404 - runs our own run.py with fixed arguments
import sys
import tempfile
import time
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


def warm_up(base: str) -> None:
    """Call every capability once (small answers)."""
    calls = [
        ("post", "/api/v1/classify", SETOSA), ("post", "/api/v1/classify-detailed", SETOSA),
        ("post", "/api/v1/classify-http", SETOSA), ("post", "/api/v1/classify-grpc", SETOSA),
        ("post", "/api/v1/classify-registry?model_format=onnx&alias=production", SETOSA),
        ("post", "/api/v1/generate", {"prompt": "Say hi.", "max_tokens": 4}),
        ("post", "/api/v1/chat", {"prompt": "Hello", "max_tokens": 4}),
        ("post", "/api/v1/chat-semantic", {"prompt": "What is AI?", "max_tokens": 4}),
    ]
    for _ in range(4):  # enough requests to reach every worker
        for method, path, body in calls:
            requests.request(method, base + path, json=body, timeout=120)
    for _ in range(40):
        requests.post(base + "/api/v1/classify", json=SETOSA, timeout=10)
    for _ in range(4):
        requests.get(base + "/api/v1/drift-report?limit=40", timeout=120)


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
        warm_up(base)
        warm = report("After a warm-up that calls every capability", stack.pid)
        print(f"\nRSS / PSS totals: {idle} idle, {warm} warm")
        linger = float(os.environ.get("DRIFT_JOB_LINGER_SECONDS", 0))
        if linger:  # drift report processes (Evidently, pandas) end this long after a report
            time.sleep(linger + 5)
            later = report("The same, once the drift report processes have ended", stack.pid)
            print(f"\nRSS / PSS totals once they ended: {later}")
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
