"""Load both sidecars and a bare server of each framework; print throughput and latency.

    python benchmarks/bench_sidecars.py [--duration 2] [--markdown]

Starts four servers on free loopback ports: the REST sidecar (granian, WSGI), the gRPC
sidecar (grpcio), and beside each a bare server of the same framework and settings whose
handler does nothing (reads the request, answers a constant). Then, for each concurrency
(1, 8, 32 clients) and batch size (1, 32, 1024 rows), it loads each server for --duration
seconds and reports requests/s, rows/s and latency percentiles. The bare servers give the
floor: sidecar latency / bare latency is the per-request overhead of our code.

Clients run in two worker processes (threads inside), send pre-encoded requests and do not
decode answers, so client CPU stays small; still, clients and servers share the machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal

# Starts our own servers with fixed arguments.
import subprocess  # nosec B404
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np

from ai_backends.core.config import load_config
from ai_backends.oip.compare import latency_stats

CONCURRENCY = (1, 8, 32)
BATCHES = (1, 32, 1024)
CLIENT_PROCESSES = 2
ROUNDS = 4  # slices per target and cell, interleaved with the other targets
WARMUP_SECONDS = 0.1  # per slice, not counted: connections up, caches warm
MODEL = "iris-classifier"
INFER_PATH = f"/v2/models/{MODEL}/infer"
GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


# --- the bare servers: same framework and settings, empty handler --------------------------


BARE_ANSWER = b'{"model_name":"bare","outputs":[]}'


def bare_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A WSGI app that reads the request body and answers a constant."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BARE_ANSWER)))])
    return [BARE_ANSWER]


def serve_bare_http(port: int, workers: int) -> None:
    """granian with the REST sidecar's settings, serving ``bare_wsgi``."""
    from granian.constants import Interfaces
    from granian.server import Server

    Server("benchmarks.bench_sidecars:bare_wsgi", address="127.0.0.1", port=port,
           interface=Interfaces.WSGI, workers=workers, blocking_threads=1,
           log_access=False).serve()


def serve_bare_grpc(port: int, threads: int, processes: int) -> None:
    """grpcio with the sidecar's processes and threads; ModelInfer answers a constant."""
    from concurrent import futures

    import grpc

    from ai_backends.oip.generated import inference_pb2 as pb
    from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc
    from ai_backends.oip.grpc_sidecar import wait_for_stop_signal
    from ai_backends.oip.serving import run_workers

    class Bare(pb_grpc.GRPCInferenceServiceServicer):
        def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
            return pb.ModelInferResponse(model_name="bare")

    def serve_one() -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads),
                             options=[("grpc.so_reuseport", 1)])
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(Bare(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        wait_for_stop_signal()
        server.stop(1).wait()

    run_workers(serve_one, processes, grace=1)


# --- payloads -----------------------------------------------------------------------------


def http_payload(batch: int, binary: bool) -> tuple[bytes, dict[str, str]]:
    """The request body and headers: JSON data, or Triton's binary tensor extension."""
    rows = np.resize(ROWS, (batch, 4))
    headers = {"Content-Type": "application/json"}
    tensor: dict[str, Any] = {"name": "input", "shape": [batch, 4], "datatype": "FP32"}
    outputs = [{"name": "label"}, {"name": "probabilities"}]
    if not binary:
        tensor["data"] = rows.reshape(-1).tolist()
        return json.dumps({"inputs": [tensor], "outputs": outputs}).encode(), headers
    raw = rows.astype("<f4").tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps({"inputs": [tensor], "outputs": outputs,
                         "parameters": {"binary_data_output": True}}).encode()
    headers["Inference-Header-Content-Length"] = str(len(header))
    return header + raw, headers


def grpc_payload(batch: int) -> bytes:
    """A serialized ModelInferRequest with raw input contents."""
    from ai_backends.oip import converters
    from ai_backends.oip.clients import features_input

    rows = np.resize(ROWS, (batch, 4))
    return bytes(converters.request_to_proto(MODEL, [features_input(rows)]).SerializeToString())


# --- load generation (runs in the client processes) -----------------------------------------


def run_load(kind: str, address: str, payload: bytes, headers: dict[str, str], threads: int,
             duration: float) -> tuple[list[float], int]:
    """Send ``payload`` from ``threads`` threads for ``duration`` s; latencies (ms), errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    if kind == "grpc":
        import grpc

        channel = grpc.insecure_channel(address)
        call = channel.unary_unary(GRPC_METHOD)  # bytes in, bytes out: no client encoding

        def send() -> None:
            call(payload, timeout=10)
    else:
        import urllib3

        host, port = address.split(":")
        local = threading.local()

        def send() -> None:
            if not hasattr(local, "pool"):
                local.pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=1)
            response = local.pool.urlopen("POST", INFER_PATH, body=payload, headers=headers,
                                          retries=False, timeout=10)
            if response.status != 200:
                raise RuntimeError(response.status)

    def worker(until: float, record: bool) -> None:
        mine: list[float] = []
        while (now := time.perf_counter()) < until:
            try:
                send()
            except Exception:  # counted, not fatal: a load test reports failures
                with lock:
                    errors[0] += 1
                continue
            mine.append((time.perf_counter() - now) * 1000)
        if record:
            with lock:
                latencies.extend(mine)

    for record, seconds in ((False, WARMUP_SECONDS), (True, duration)):
        until = time.perf_counter() + seconds
        pool = [threading.Thread(target=worker, args=(until, record)) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    if kind == "grpc":
        channel.close()
    return latencies, errors[0]


# --- orchestration ------------------------------------------------------------------------


@dataclass
class Target:
    """One server under test."""

    name: str
    kind: str  # "http" or "grpc"
    address: str
    binary: bool = False


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    """Start one server process from the repository root (or another checkout's)."""
    return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env},  # nosec B603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(target: Target, timeout: float = 30) -> None:
    """Block until ``target`` answers a batch-1 request."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # run_load counts failures instead of raising them: up means answered once.
        latencies, _ = run_load(target.kind, target.address, *payloads(target, 1), threads=1,
                                duration=0.01)
        if latencies:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{target.name} did not start")


def payloads(target: Target, batch: int) -> tuple[bytes, dict[str, str]]:
    """Pre-encoded request for ``target`` and ``batch``."""
    if target.kind == "grpc":
        return grpc_payload(batch), {}
    return http_payload(batch, target.binary)


def machine() -> str:
    """nproc, CPU model, Python and library versions, for the README."""
    from importlib.metadata import version

    import grpc

    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo").read().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"granian {version('granian')}, grpcio {grpc.__version__}")


def main() -> int:
    """Start the servers, run every combination, print the table, stop the servers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--extra", action="append", default=[], metavar="NAME=http://HOST:PORT",
        help="also load another Open Inference Protocol server already running on loopback "
             "(http:// for REST with JSON, grpc:// for gRPC with raw contents); repeatable",
    )
    parser.add_argument("--serve", choices=["bare-http", "bare-grpc"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare-http":
        serve_bare_http(args.port, args.size)
        return 0
    if args.serve == "bare-grpc":
        serve_bare_grpc(args.port, args.size, args.processes)
        return 0

    config = load_config()
    ports = {name: free_port() for name in ("http", "grpc", "bare-http", "bare-grpc")}
    workers, threads = config["HTTP_SIDECAR_WORKERS"], config["GRPC_SIDECAR_THREADS"]
    grpc_processes = config["GRPC_SIDECAR_PROCESSES"]
    quiet = {"LOG_LEVEL": "WARNING"}
    me = [sys.executable, __file__]
    servers = [
        start([sys.executable, "http_server.py"],
              {**quiet, "HTTP_SIDECAR_PORT": str(ports["http"])}),
        start([sys.executable, "grpc_server.py"],
              {**quiet, "GRPC_SIDECAR_PORT": str(ports["grpc"])}),
        start([*me, "--serve", "bare-http", "--port", str(ports["bare-http"]), "--size",
               str(workers)], quiet),
        start([*me, "--serve", "bare-grpc", "--port", str(ports["bare-grpc"]), "--size",
               str(threads), "--processes", str(grpc_processes)], quiet),
    ]
    targets = [
        Target("REST sidecar, JSON", "http", f"127.0.0.1:{ports['http']}"),
        Target("REST sidecar, binary ext.", "http", f"127.0.0.1:{ports['http']}", binary=True),
        Target("bare granian (WSGI)", "http", f"127.0.0.1:{ports['bare-http']}"),
        Target("gRPC sidecar, raw", "grpc", f"127.0.0.1:{ports['grpc']}"),
        Target("bare grpcio", "grpc", f"127.0.0.1:{ports['bare-grpc']}"),
    ]
    for extra in args.extra:
        name, _, url = extra.partition("=")
        kind, _, address = url.partition("://")
        if kind not in {"http", "grpc"} or not address.startswith("127.0.0.1:"):
            parser.error(f"--extra wants NAME=http://127.0.0.1:PORT or grpc://..., not {extra}")
        targets.append(Target(name, kind, address))
    print(f"machine: {machine()}")
    print(f"servers: REST granian {workers} workers (WSGI); gRPC {grpc_processes} processes x "
          f"{threads} threads; "
          f"{args.duration:g}s per cell, {CLIENT_PROCESSES} client processes")
    results: dict[tuple[str, int, int], dict[str, float]] = {}
    context = multiprocessing.get_context("spawn")
    try:
        for target in targets:
            wait_for(target)
        with context.Pool(CLIENT_PROCESSES) as pool:
            for batch in BATCHES:
                for concurrency in CONCURRENCY:
                    measure_cell(pool, targets, concurrency, batch, args.duration, results)
                    for target in targets:
                        print_row(target.name, concurrency, batch,
                                  results[(target.name, concurrency, batch)], args.markdown,
                                  header=target is targets[0] and len(results) == len(targets))
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=20)
    print_overhead(results, targets)
    return 0


def measure_cell(pool: Any, targets: list[Target], concurrency: int, batch: int,
                 duration: float, results: dict[tuple[str, int, int], dict[str, float]]) -> None:
    """Load each target for ``duration`` s in all, in interleaved slices.

    Slices (A, B, C, A, B, C, ...) spread the shared machine's noise over every target
    instead of letting a burst land on one of them.
    """
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    errors = dict.fromkeys(samples, 0)
    processes = min(CLIENT_PROCESSES, concurrency)
    for _ in range(ROUNDS):
        for target in targets:
            body, headers = payloads(target, batch)
            jobs = [(target.kind, target.address, body, headers, concurrency // processes,
                     duration / ROUNDS)] * processes
            for latencies, failed in pool.starmap(run_load, jobs):
                samples[target.name].extend(latencies)
                errors[target.name] += failed
    for target in targets:
        mine = samples[target.name]
        stats = latency_stats(mine) if mine else {}
        stats["rps"] = len(mine) / duration
        stats["errors"] = errors[target.name]
        results[(target.name, concurrency, batch)] = stats


def print_row(name: str, concurrency: int, batch: int, stats: dict[str, float],
              markdown: bool, header: bool) -> None:
    """One line of the table (with the header before the first)."""
    columns = ["server", "clients", "batch", "req/s", "rows/s", "p50 ms", "p95 ms", "p99 ms",
               "errors"]
    values = [name, str(concurrency), str(batch), f"{stats['rps']:.0f}",
              f"{stats['rps'] * batch:.0f}", f"{stats.get('p50_ms', 0):.2f}",
              f"{stats.get('p95_ms', 0):.2f}", f"{stats.get('p99_ms', 0):.2f}",
              str(int(stats["errors"]))]
    if markdown:
        if header:
            print("| " + " | ".join(columns) + " |")
            print("|" + "|".join("---" for _ in columns) + "|")
        print("| " + " | ".join(values) + " |", flush=True)
    else:
        widths = [26, 7, 5, 7, 8, 7, 7, 7, 6]
        if header:
            print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
        print("  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)), flush=True)


def print_overhead(results: dict[tuple[str, int, int], dict[str, float]],
                   targets: list[Target]) -> None:
    """Sidecar vs bare server of the same framework: the per-request cost of our code."""
    print("\nper-request overhead, batch 1 (sidecar / bare server of the same framework):")
    pairs = [("REST sidecar, JSON", "bare granian (WSGI)"), ("gRPC sidecar, raw", "bare grpcio")]
    for ours, bare in pairs:
        for concurrency in CONCURRENCY:
            mine, floor = results[(ours, concurrency, 1)], results[(bare, concurrency, 1)]
            print(f"  {ours:<20} {concurrency:>2} clients: p50 {mine['p50_ms']:.3f} / "
                  f"{floor['p50_ms']:.3f} ms = {mine['p50_ms'] / floor['p50_ms']:.2f}x, "
                  f"throughput {mine['rps']:.0f} / {floor['rps']:.0f} req/s = "
                  f"{floor['rps'] / mine['rps']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
