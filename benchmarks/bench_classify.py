"""Latency of /api/v1/classify (cache miss and hit) against the bare ONNX call, in one run.

Starts the API under gunicorn on a free loopback port (the API's server before granian;
``bench_servers.py`` compares the two), configured as by default otherwise (REDIS_URL
if set, else the machine's Redis on 6379, else embedded), then measures sequentially with
one keep-alive client:
- the ONNX session called directly, one row;
- /api/v1/classify with a new input (cache miss) and with the same input (cache hit), in
  turn, so that a noisy minute hits both alike.
With ``--wrk`` (and wrk installed) it also measures throughput with 32 connections: the API
with threaded workers and with sync workers, and beside it a bare Flask app
under the same two settings, the floor any Flask service starts from.
Usage: python benchmarks/bench_classify.py [--requests 2000] [--wrk]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_backends.classify.model import OnnxClassifier
from ai_backends.core.config import load_config

BARE_FLASK = "benchmarks.bare_flask:app"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "median_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "mean_ms": statistics.fmean(ordered),
    }


def bench_onnx(model_dir: str, n: int) -> dict[str, float]:
    """Time ``session.run`` on one float32 row, as the API's model call does."""
    model = OnnxClassifier(model_dir)
    model.load()
    row = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
    session = model._session
    times = []
    for _ in range(n):
        started = time.perf_counter()
        session.run(None, {"input": row})
        times.append((time.perf_counter() - started) * 1000)
    return _summary(times)


def bench_http(url: str, n: int) -> tuple[dict[str, float], dict[str, float]]:
    """Sequential POSTs on one keep-alive connection, new inputs (misses) and hits in turn."""
    rng = random.Random()  # new inputs each run: a rerun must not meet its own entries
    session = requests.Session()
    fixed = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    for _ in range(50):  # warm-up: connections, lazy loads, first cache entry
        session.post(url, json=fixed, timeout=5)
    times: dict[str, list[float]] = {"MISS": [], "HIT": []}
    for i in range(n):  # in turn, so that a noisy moment hits both; each first half the time
        for expected in ("MISS", "HIT") if i % 2 else ("HIT", "MISS"):
            samples = times[expected]
            body = fixed if expected == "HIT" else {key: round(rng.uniform(0.1, 8), 6)
                                                    for key in fixed}
            started = time.perf_counter()
            response = session.post(url, json=body, timeout=5)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or response.headers["X-Cache"] != expected:
                raise RuntimeError(f"unexpected answer {response.status_code} "
                                   f"{response.headers.get('X-Cache')}")
    return _summary(times["MISS"]), _summary(times["HIT"])


# Each wrk thread seeds its own generator: with LuaJIT's fixed default seed every thread
# (and every run) sends the same "random" sequence, and most "misses" would be hits.
WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end
request = function()
  return wrk.format(nil, nil, nil, %s)
end
"""
MISS_BODY = ('string.format(\'{"sepal_length":%.6f,"sepal_width":3.5,"petal_length":1.4,'
             '"petal_width":0.2}\', math.random() * 7 + 0.1)')
HIT_BODY = "'{\"sepal_length\":5.1,\"sepal_width\":3.5,\"petal_length\":1.4,\"petal_width\":0.2}'"


def bench_wrk(url: str, connections: int, seconds: int, miss: bool) -> str:
    """Throughput with wrk: a Lua script posts the body (new random inputs for misses)."""
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(WRK_SCRIPT % (MISS_BODY if miss else HIT_BODY))
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    )
    return result.stdout


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, latency percentiles (ms) and non-2xx/socket errors from wrk's report."""
    result: dict[str, float] = {"errors": 0.0}
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            value = re.match(r"([\d.]+)(us|ms|s)", parts[1])
            if value:
                result[parts[0]] = float(value.group(1)) * units[value.group(2)]
        elif line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif "Non-2xx" in line or line.strip().startswith("Socket errors"):
            result["errors"] += sum(int(n) for n in re.findall(r"\d+", line.split(":")[1]))
    return result


@contextmanager
def serving(target: str, workers: int, threads: int, env: dict[str, str]) -> Iterator[str]:
    """Run ``target`` under gunicorn on a free loopback port; yield its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads)],
        cwd=ROOT, env={**env, "REDIS_KEY_PREFIX": f"bench-{port}:"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):  # any HTTP answer (the bare app has no /health) means ready
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    """Run the measurements and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--sync-workers", type=int, default=4,
                        help="workers of the sync-worker rows of the wrk table")
    parser.add_argument("--wrk", action="store_true", help="also measure throughput with wrk")
    args = parser.parse_args()
    config = load_config()
    # The service as configured by default (JSON access log included), its output discarded.
    env = {**os.environ, "DATA_DIR": tempfile.mkdtemp(prefix="bench-"),
           "MODEL_DIR": config["MODEL_DIR"]}
    if not env.get("REDIS_URL"):
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=0.3).close()
            env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
        except OSError:
            pass  # the API starts its embedded Redis
    with serving("app:app", args.workers, args.threads, env) as base:
        url = f"{base}/api/v1/classify"
        onnx = bench_onnx(config["MODEL_DIR"], args.requests * 5)
        miss, hit = bench_http(url, args.requests)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; gunicorn {args.workers} workers x {args.threads} "
              f"threads; Redis {env.get('REDIS_URL', 'embedded')}; "
              f"{args.requests} sequential requests each, misses and hits in turn\n")
        print("| path | median ms | p99 ms | median vs bare ONNX |")
        print("|---|---|---|---|")
        for name, result in (("bare ONNX session.run, 1 row", onnx),
                             ("/api/v1/classify, cache miss", miss),
                             ("/api/v1/classify, cache hit", hit)):
            ratio = result["median_ms"] / onnx["median_ms"]
            print(f"| {name} | {result['median_ms']:.3f} | {result['p99_ms']:.3f} | "
                  f"{ratio:.0f}x |")
    if not (args.wrk and shutil.which("wrk")):
        return
    threaded = f"{args.workers} workers x {args.threads} threads"
    synced = f"{args.sync_workers} sync workers"
    rows = [  # (server, gunicorn target, workers, threads, cache misses?)
        (f"API, {threaded}", "app:app", args.workers, args.threads, True),
        (f"API, {threaded}", "app:app", args.workers, args.threads, False),
        (f"API, {synced}", "app:app", args.sync_workers, 1, True),
        (f"bare Flask, {threaded}", BARE_FLASK, args.workers, args.threads, True),
        (f"bare Flask, {synced}", BARE_FLASK, args.sync_workers, 1, True),
    ]
    print("\nThroughput with wrk (2 threads, 32 connections, 10 s, on the same 2 cores). "
          "Bare Flask parses the same body and returns a dict of the same shape: no "
          "validation, model, cache, log or metrics.\n")
    print("| server | cache | requests/s | p50 ms | p90 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, target, workers, threads, miss_mode in rows:
        with serving(target, workers, threads, env) as base:
            bench_wrk(f"{base}/api/v1/classify", 32, 2, miss_mode)  # warm-up
            result = parse_wrk(bench_wrk(f"{base}/api/v1/classify", 32, 10, miss_mode))
        print(f"| {name} | {'miss' if miss_mode else 'hit'} | {result['rps']:.0f} | "
              f"{result['50%']:.1f} | {result['90%']:.1f} | {result['99%']:.1f} | "
              f"{result['errors']:.0f} |")


if __name__ == "__main__":
    main()
