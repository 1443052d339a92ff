"""Our sidecars against MLServer, the best-known Python OIP server, on the same model, in one run.

    python benchmarks/bench_peers.py [--install] [--duration 3] [--rounds 2] [--before PATH]

Starts, on free loopback ports: MLServer 1.7.1 (REST and gRPC; its own virtualenv, created
with ``--install`` in ``benchmarks/.mlserver-venv``, because its pins differ from ours), our
REST sidecar under granian (the default) and under gunicorn, our gRPC sidecar, and the bare
granian floor of ``bench_sidecars.py`` (the REST sidecar's server and settings, an app that
reads the body and answers a constant: what any app under it pays). Every target then gets
the same pre-encoded requests from the same client processes, in interleaved rounds, for 1
row at 8 and 32 clients and 1,024 rows at 8 clients. For each cell it prints requests/s,
p50/p99 and the server's CPU time per request (its whole process tree, from /proc): the
figure that holds while the machine is noisy. Ratios to MLServer close the table. With
h2load installed, an open-loop run at a fixed offered rate follows, so the tail is not just
a function of the connection count.
``--before PATH`` adds the REST sidecar (granian, JSON) served from another checkout (an
earlier commit, e.g. ``git worktree add /tmp/before <commit>``) on the same model file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess  # nosec B404 - our own servers, MLServer, pip and h2load, fixed arguments
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_backends.core.config import load_config  # noqa: E402
from benchmarks.bench_servers import tree_cpu_seconds  # noqa: E402
from benchmarks.bench_sidecars import (  # noqa: E402
    MODEL,
    Target,
    free_port,
    payloads,
    run_load,
    start,
    wait_for,
)

MLSERVER_VENV = ROOT / "benchmarks" / ".mlserver-venv"
MLSERVER_VERSION = "1.7.1"
CELLS = ((1, 8), (1, 32), (1024, 8))  # (rows per request, clients)
CLIENT_PROCESSES = 2


def install_mlserver() -> Path:
    """Create MLServer's own virtualenv (once) and return its ``mlserver`` command."""
    command = MLSERVER_VENV / "bin" / "mlserver"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        subprocess.run([str(MLSERVER_VENV / "bin" / "pip"), "install", "--quiet",
                        f"mlserver=={MLSERVER_VERSION}", "onnxruntime"], check=True)
    return command


def start_mlserver(command: Path, http_port: int, grpc_port: int) -> subprocess.Popen[bytes]:
    """Serve models/iris_classifier.onnx with MLServer, as benchmarks/mlserver/ describes."""
    folder = Path(tempfile.mkdtemp(prefix="bench-mlserver-"))
    for name in ("runtime.py", "settings.json"):
        shutil.copy(ROOT / "benchmarks" / "mlserver" / name, folder / name)
    settings = json.loads((folder / "settings.json").read_text())
    settings.update(http_port=http_port, grpc_port=grpc_port, metrics_port=free_port())
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "iris").mkdir()
    (folder / "iris" / "model-settings.json").write_text(json.dumps({
        "name": MODEL, "implementation": "runtime.OnnxIris",
        "parameters": {"uri": str(ROOT / "models" / "iris_classifier.onnx")}}))
    return subprocess.Popen([str(command), "start", "."], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _client(args: tuple[str, str, bytes, dict[str, str], int, float]) -> tuple[list[float], int]:
    return run_load(*args)


def measure(target: Target, pid: int, rows: int, clients: int,
            duration: float) -> dict[str, float]:
    """Load one target from two client processes; throughput, latency, server CPU/request."""
    body, headers = payloads(target, rows)
    per_process = max(1, clients // CLIENT_PROCESSES)
    jobs = [(target.kind, target.address, body, headers, per_process, duration)] * \
        CLIENT_PROCESSES
    before = tree_cpu_seconds(pid)
    with multiprocessing.get_context("spawn").Pool(CLIENT_PROCESSES) as pool:
        results = pool.map(_client, jobs)
    spent = tree_cpu_seconds(pid) - before
    latencies = sorted(latency for result, _ in results for latency in result)
    errors = sum(errors for _, errors in results)
    count = len(latencies)
    if not count:
        return {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "cpu_us": float("nan"),
                "errors": float(errors)}
    # The warm-up of run_load is not counted in latencies but is in CPU: scale it out.
    warm = duration + 0.1
    return {"rps": count / duration, "p50": latencies[count // 2],
            "p99": latencies[int(0.99 * (count - 1))],
            "cpu_us": spent * duration / warm / count * 1e6, "errors": float(errors)}


def bare_onnx_ms(rows: int, calls: int = 200) -> float:
    """Median time of the onnxruntime call alone, in this process, one thread."""
    from ai_backends.classify.model import onnx_session

    session = onnx_session(ROOT / "models" / "iris_classifier.onnx")
    name = session.get_inputs()[0].name
    data = np.resize(np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32), (rows, 4))
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        session.run(None, {name: data})
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def open_loop(url: str, rate: int, seconds: int) -> dict[str, str]:
    """h2load at a fixed offered rate (HTTP/1.1): achieved rate and request times."""
    body = Path(tempfile.mkstemp(suffix=".json")[1])
    body.write_bytes(payloads(Target("", "http", ""), 1)[0])
    result = subprocess.run(
        ["h2load", "--h1", "-c", "8", "--rps", str(max(1, rate // 8)), "-D", str(seconds),
         "-d", str(body), "-H", "Content-Type: application/json", url],
        capture_output=True, text=True, timeout=seconds + 30)
    summary: dict[str, str] = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if line.startswith("finished in"):
            summary["achieved"] = parts[-1] if parts[-1].endswith("req/s") else line
        elif line.startswith("requests:"):
            summary["requests"] = line.split(":", 1)[1].strip()
        elif line.startswith("time for request:"):
            summary["min/max/mean"] = " / ".join(parts[3:6])
    return summary


def main() -> int:
    """Start everything, run the interleaved rounds, print the tables, stop everything."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="create MLServer's venv")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=1500, help="open-loop offered req/s")
    parser.add_argument("--before", type=Path, help="another checkout of the project")
    args = parser.parse_args()
    quiet = {"LOG_LEVEL": "WARNING"}
    ports = {name: free_port() for name in
             ("granian", "gunicorn", "grpc", "bare", "mls-http", "mls-grpc", "before")}
    processes: dict[str, subprocess.Popen[bytes]] = {
        "granian": start([sys.executable, "http_server.py"], {
            **quiet, "HTTP_SIDECAR_PORT": str(ports["granian"])}),
        "gunicorn": start([sys.executable, "http_server.py"], {
            **quiet, "HTTP_SIDECAR_PORT": str(ports["gunicorn"]),
            "HTTP_SIDECAR_SERVER": "gunicorn"}),
        "grpc": start([sys.executable, "grpc_server.py"], {
            **quiet, "GRPC_SIDECAR_PORT": str(ports["grpc"])}),
        # The floor under the REST sidecar: granian, same settings, no model, no decoding.
        "bare": start([sys.executable, "benchmarks/bench_sidecars.py", "--serve", "bare-http",
                       "--port", str(ports["bare"]), "--size",
                       str(load_config()["HTTP_SIDECAR_WORKERS"])], quiet),
    }
    targets = [
        ("REST sidecar (granian), JSON", "granian", Target("", "http",
                                                           f"127.0.0.1:{ports['granian']}")),
        ("REST sidecar (granian), binary", "granian",
         Target("", "http", f"127.0.0.1:{ports['granian']}", binary=True)),
        ("REST sidecar (gunicorn), JSON", "gunicorn",
         Target("", "http", f"127.0.0.1:{ports['gunicorn']}")),
        ("gRPC sidecar, raw", "grpc", Target("", "grpc", f"127.0.0.1:{ports['grpc']}")),
        ("bare granian (WSGI), binary", "bare",
         Target("", "http", f"127.0.0.1:{ports['bare']}", binary=True)),
    ]
    if args.before:
        processes["before"] = start([sys.executable, "http_server.py"], {
            **quiet, "HTTP_SIDECAR_PORT": str(ports["before"]),
            "MODEL_DIR": str(ROOT / "models")}, cwd=args.before.resolve())
        targets.append(("REST sidecar (granian), JSON, before", "before",
                        Target("", "http", f"127.0.0.1:{ports['before']}")))
    mlserver = MLSERVER_VENV / "bin" / "mlserver"
    if args.install:
        mlserver = install_mlserver()
    if mlserver.exists():
        processes["mlserver"] = start_mlserver(mlserver, ports["mls-http"], ports["mls-grpc"])
        targets += [
            ("MLServer REST, JSON", "mlserver",
             Target("", "http", f"127.0.0.1:{ports['mls-http']}")),
            ("MLServer gRPC", "mlserver", Target("", "grpc", f"127.0.0.1:{ports['mls-grpc']}")),
        ]
    else:
        print("MLServer not installed: run with --install to compare with it", file=sys.stderr)
    results: dict[tuple[str, int, int], list[dict[str, float]]] = {}
    try:
        for _name, owner, target in targets:
            wait_for(target, timeout=90)
            measure(target, processes[owner].pid, 1, 8, 1.0)  # warm-up: every worker up
        for _ in range(args.rounds):
            for rows, clients in CELLS:
                for name, owner, target in targets:
                    run = measure(target, processes[owner].pid, rows, clients, args.duration)
                    results.setdefault((name, rows, clients), []).append(run)
                    print(f"# {name} {rows} rows {clients} clients: {run['rps']:,.0f} req/s, "
                          f"{run['cpu_us']:.0f} µs CPU", file=sys.stderr)
        onnx = {rows: bare_onnx_ms(rows) for rows in (1, 1024)}
        loops = {}
        if shutil.which("h2load"):
            path = f"/v2/models/{MODEL}/infer"
            loops["REST sidecar (granian)"] = open_loop(
                f"http://127.0.0.1:{ports['granian']}{path}", args.rate, 5)
            if "mlserver" in processes:
                loops["MLServer REST"] = open_loop(
                    f"http://127.0.0.1:{ports['mls-http']}{path}", args.rate, 5)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=30)
    print_tables(results, onnx, loops, args)
    return 0


def print_tables(results: dict[tuple[str, int, int], list[dict[str, float]]],
                 onnx: dict[int, float], loops: dict[str, dict[str, str]],
                 args: argparse.Namespace) -> None:
    """Markdown: the medians per cell, ratios to MLServer, the bare call, the open loop."""
    def med(name: str, rows: int, clients: int, key: str) -> float:
        runs = results.get((name, rows, clients), [])
        return statistics.median(run[key] for run in runs) if runs else float("nan")

    print(f"{os.cpu_count()} cores, {args.rounds} interleaved rounds of {args.duration:g} s, "
          "medians\n")
    print("| server | rows | clients | req/s | p50 ms | p99 ms | errors | CPU µs/request | "
          "CPU vs MLServer | req/s vs MLServer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, rows, clients) in results:
        peer = "MLServer gRPC" if "gRPC" in name else "MLServer REST, JSON"
        cpu, rps = med(name, rows, clients, "cpu_us"), med(name, rows, clients, "rps")
        peer_cpu, peer_rps = med(peer, rows, clients, "cpu_us"), med(peer, rows, clients, "rps")
        print(f"| {name} | {rows} | {clients} | {rps:,.0f} | "
              f"{med(name, rows, clients, 'p50'):.2f} | {med(name, rows, clients, 'p99'):.2f} | "
              f"{med(name, rows, clients, 'errors'):.0f} | {cpu:,.0f} | "
              f"{cpu / peer_cpu:.2f}x | {rps / peer_rps:.2f}x |")
    print(f"\nBare onnxruntime call: {onnx[1] * 1000:.0f} µs for 1 row, "
          f"{onnx[1024]:.2f} ms for 1,024 rows. Per request at 1,024 rows and 8 clients, "
          "server CPU / bare call:")
    for (name, rows, clients) in results:
        if rows == 1024:
            ratio = med(name, rows, clients, "cpu_us") / 1000 / onnx[1024]
            print(f"- {name}: {ratio:.2f}x")
    for name, loop in loops.items():
        print(f"\nOpen loop, {args.rate} req/s offered over 8 connections, {name}: {loop}")


if __name__ == "__main__":
    sys.exit(main())
