"""The REST sidecar's app in-process: CPU per request against the work it wraps.

    python benchmarks/bench_sidecar_app.py [--calls 2000] [--rounds 5] [--before PATH]

No server and no socket: the WSGI app (``oip.http_sidecar.create_http_app``) is called with
a ready-made environ for one inference, and beside it, interleaved, the parts it wraps: the
tensor decoding, ``DataPlane.infer`` (value checks and the onnxruntime call), the encoding of
the answer, and the bare onnxruntime call. For 1 row (JSON) and 1,024 rows (JSON and the
binary extension) it prints the median CPU µs per call of each, and the app's cost around
decoding, inference and encoding. ``--before PATH`` runs the same measurement on another
checkout's app (an earlier commit, e.g. ``git worktree add /tmp/before <commit>``), in a
child process whose ``ai_backends`` is that checkout's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess  # nosec B404 - this script in another checkout, fixed arguments
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = ((1, False), (1024, False), (1024, True))  # (rows, binary extension)


def cpu_us(fn: Callable[[], Any], calls: int) -> float:
    """CPU µs per call of ``fn`` over ``calls`` calls."""
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls * 1e6


def parts(rows: int, binary: bool) -> dict[str, Callable[[], Any]]:
    """The app called for one inference of ``rows`` rows, and the parts of its work."""
    import numpy as np
    import orjson

    from ai_backends.classify.model import OnnxClassifier
    from ai_backends.core.config import load_config
    from ai_backends.oip import converters, http_sidecar
    from ai_backends.oip.dataplane import DataPlane
    from benchmarks.bench_sidecars import MODEL, http_payload

    plane = DataPlane(OnnxClassifier(load_config()["MODEL_DIR"]))
    plane.ready()
    app = http_sidecar.create_http_app(plane)
    body, headers = http_payload(rows, binary)
    split = int(headers.get(converters.BINARY_HEADER, len(body)))
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"/v2/models/{MODEL}/infer",
               "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5002",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
               "REMOTE_ADDR": "127.0.0.1", "wsgi.errors": sys.stderr}
    if binary:
        environ["HTTP_INFERENCE_HEADER_CONTENT_LENGTH"] = str(split)
    statuses: list[str] = []

    def call_app() -> None:
        statuses.clear()
        answer = app({**environ, "wsgi.input": io.BytesIO(body)},
                     lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(answer)
        assert statuses[0].startswith("200"), statuses

    def decode() -> Any:  # as both versions of the app parse a body
        return converters.request_from_json(orjson.loads(body[:split]), body[split:])

    decoded = decode()

    def infer() -> Any:
        return plane.infer(MODEL, "", decoded.inputs, decoded.outputs, decoded.id)

    result = infer()
    session = plane.model._session  # the bare call, as bench_peers times it
    features = np.resize(np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32), (rows, 4))
    return {"app": call_app, "decode": decode, "infer": infer,
            "encode": lambda: converters.result_to_json(result, decoded.binary_outputs),
            "bare onnxruntime": lambda: session.run(None, {"input": features})}


def measure(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Medians of ``rounds`` interleaved rounds, per case and part (needs the trained model)."""
    results = {}
    for rows, binary in CASES:
        work = parts(rows, binary)
        per_round = calls if rows == 1 else max(20, calls // 10)
        runs: dict[str, list[float]] = {name: [] for name in work}
        for fn in work.values():
            fn()  # warm
        for _ in range(rounds):
            for name, fn in work.items():
                runs[name].append(cpu_us(fn, per_round))
        results[f"{rows} row{'s' if rows > 1 else ''}, {'binary' if binary else 'JSON'}"] = {
            name: statistics.median(values) for name, values in runs.items()}
    return results


def main() -> int:
    """Measure this checkout's app (and another's with --before); print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round for 1 row")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout of the project")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:  # a child: print this process's results as JSON
        print(json.dumps(measure(args.calls, args.rounds)))
        return 0
    checkouts = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    tables = {}
    for label, checkout in checkouts.items():
        # A child whose ai_backends (and benchmarks) are the checkout's, on this model.
        done = subprocess.run(  # nosec B603 - this script, fixed arguments
            [sys.executable, __file__, "--json", "--calls", str(args.calls),
             "--rounds", str(args.rounds)], cwd=checkout, capture_output=True, text=True,
            check=True, env={**os.environ, "PYTHONPATH": str(checkout),
                             "MODEL_DIR": str(ROOT / "models")})
        tables[label] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"CPU µs per call, medians of {args.rounds} interleaved rounds, in-process\n")
    print("| checkout | case | app | decode | infer | encode | app around them | "
          "bare onnxruntime | app / bare |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, table in tables.items():
        for case, part in table.items():
            around = part["app"] - part["decode"] - part["infer"] - part["encode"]
            print(f"| {label} | {case} | {part['app']:,.0f} | {part['decode']:,.0f} | "
                  f"{part['infer']:,.0f} | {part['encode']:,.0f} | {around:,.0f} | "
                  f"{part['bare onnxruntime']:,.0f} | "
                  f"{part['app'] / part['bare onnxruntime']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
