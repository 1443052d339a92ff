"""Cold start of the API: from process start to the first answered /health and /classify.

Usage: python benchmarks/bench_cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_start() -> tuple[float, float]:
    """Seconds until /health answers and until the first classification answers."""
    port = _free_port()
    env = {**os.environ, "DATA_DIR": tempfile.mkdtemp(prefix="cold-"), "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}",
         "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.02)
        health = time.perf_counter() - started
        response = requests.post(f"http://127.0.0.1:{port}/api/v1/classify", json=SAMPLE,
                                 timeout=10)
        response.raise_for_status()
        return health, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    """Start the API several times and print the medians as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [one_start() for _ in range(args.runs)]
    print(f"Cold start, gunicorn with 1 worker, median of {args.runs} starts:\n")
    print("| milestone | median s | min s | max s |")
    print("|---|---|---|---|")
    for index, name in enumerate(("first /health answered", "first /classify answered")):
        values = [run[index] for run in runs]
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | "
              f"{max(values):.2f} |")


if __name__ == "__main__":
    main()
