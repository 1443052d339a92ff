"""The API's REST sidecar client against the same call through ``requests``: client CPU.

    python benchmarks/bench_sidecar_client.py [--calls 1000] [--rounds 5] [--rows 1]

Starts the REST sidecar (``http_server.py``) on a free loopback port and calls it one call
at a time from this process, in interleaved rounds: with ``oip.clients.HttpSidecarClient``
(urllib3 and orjson, what the API uses) and with what that client did before, a
``requests.Session`` posting ``json=`` and reading ``response.json()``. Both send the same
rows and turn the answer into the same arrays. Prints the median CPU time of this process
per call (the client's cost, which the API pays on every ``/classify-http``) and the median
wall time per call (client, loopback and sidecar together).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np  # noqa: E402
import requests  # noqa: E402

from ai_backends.oip import converters  # noqa: E402
from ai_backends.oip.clients import HttpSidecarClient, features_input  # noqa: E402
from benchmarks.bench_sidecars import MODEL, ROWS, Target, free_port, start, wait_for  # noqa: E402


def requests_call(session: requests.Session, url: str) -> Callable[[np.ndarray], Any]:
    """The REST client as it was: ``requests`` with the standard library's JSON."""
    def infer(features: np.ndarray) -> Any:
        tensor = features_input(features)
        body = {"inputs": [{"name": tensor.name, "datatype": tensor.datatype,
                            "shape": tensor.shape, "data": tensor.data.tolist()}]}
        response = session.post(url, json=body, timeout=5)
        assert response.status_code == 200, response.text
        return converters.outputs_from_json(response.json())

    return infer


def main() -> int:
    """Start the sidecar, time both clients in interleaved rounds, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per client and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1, help="rows per call")
    args = parser.parse_args()
    port = free_port()
    sidecar = start([sys.executable, "http_server.py"],
                    {"LOG_LEVEL": "WARNING", "HTTP_SIDECAR_PORT": str(port),
                     "SIDECAR_API_KEY": ""})
    try:
        wait_for(Target("REST sidecar", "http", f"127.0.0.1:{port}"), timeout=60)
        base = f"http://127.0.0.1:{port}"
        features = np.resize(ROWS, (args.rows, 4))
        clients = {
            "HttpSidecarClient (urllib3, orjson)": HttpSidecarClient(base, 5).infer,
            "requests.Session (json=, .json())": requests_call(
                requests.Session(), f"{base}/v2/models/{MODEL}/infer"),
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for call in clients.values():
            for _ in range(50):  # warm: connections up
                call(features)
        for _ in range(args.rounds):
            for name, call in clients.items():
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(args.calls):
                    call(features)
                runs[name].append(((time.process_time() - cpu) / args.calls * 1e6,
                                   (time.perf_counter() - wall) / args.calls * 1e6))
    finally:
        sidecar.terminate()
        sidecar.wait(timeout=30)
    print(f"{args.rows} row(s) per call, {args.calls} calls x {args.rounds} interleaved rounds, "
          "one call at a time, medians\n")
    print("| client | client CPU µs per call | wall µs per call |\n|---|---|---|")
    for name, results in runs.items():
        print(f"| {name} | {statistics.median(r[0] for r in results):,.0f} | "
              f"{statistics.median(r[1] for r in results):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
