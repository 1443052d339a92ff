"""What one /api/v1/classify cache miss costs, part by part, in CPU instructions.

Timings on a shared 2-core machine drift by a factor of two from one minute to the next;
instruction counts do not. Each configuration runs the app in-process under valgrind's
callgrind, instrumented only around the measured requests, twice (``--few`` and ``--many``
requests): the difference divided by the extra requests is the cost of one request, start-up
and warm-up excluded. Parts are measured by switching them off one at a time, and a bare
Flask app that parses the same JSON body and returns a dict of the same shape is the floor.
Counts are user-space instructions of the API process: the kernel's share of socket and
file calls and the Redis server's own work are not in them.

Usage: python benchmarks/bench_request_cost.py [--few 100] [--many 400]   (needs valgrind)
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (label, parts switched off); "flask" is the bare Flask floor instead of the app, "io" that
# floor plus the model, the Redis lookup and store, the log append and the access-log line.
CONFIGS: list[tuple[str, str]] = [
    ("the whole request (cache miss)", ""),
    ("without the prediction log write", "log"),
    ("without the exact cache (two Redis commands)", "cache"),
    ("without the JSON access log line", "access"),
    ("without the HTTP request metrics", "metrics"),
    ("without the auth, rate-limit and body hooks", "hooks"),
    ("all five parts off", "log,cache,access,metrics,hooks"),
    ("bare Flask: parse the body, return a dict", "flask"),
    ("bare Flask + a miss's I/O (benchmarks/bare_flask_io.py)", "io"),
]


def _environ(rng: random.Random) -> dict[str, Any]:
    """A WSGI environ for one POST /api/v1/classify with a new input (a cache miss)."""
    body = json.dumps({"sepal_length": round(rng.uniform(0.1, 8), 6), "sepal_width": 3.5,
                       "petal_length": 1.4, "petal_width": 0.2}).encode()
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/classify",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5001", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0)}


def _bare_flask() -> Any:
    """The floor: ``benchmarks/bare_flask.py``, the same app bench_classify.py serves."""
    from benchmarks.bare_flask import app

    return app


def _service_app(off: set[str], redis_url: str) -> Any:
    """The real app, with the parts named in ``off`` replaced by no-ops."""
    os.environ.update(REDIS_URL=redis_url, DATA_DIR=tempfile.mkdtemp(prefix="bench-cost-"),
                      REDIS_KEY_PREFIX=f"bench-cost-{os.getpid()}:", LOG_LEVEL="INFO")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-prom-"))
    from ai_backends.api.app import create_app
    from ai_backends.api.context import services_of
    from ai_backends.core import metrics

    app = create_app()
    for handler in logging.getLogger().handlers:  # format every line, write it nowhere
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    service = services_of(app).classification
    if "log" in off:
        service.log.record = lambda *args, **kwargs: None
    if "cache" in off:
        service.cache.lookup = lambda keys: [None] * len(keys)
        service.cache.insert = lambda items: None
    if "access" in off:
        logging.getLogger("ai_backends.access").disabled = True
    if "metrics" in off:
        class Nothing:
            def labels(self, *args: Any) -> Nothing:
                return self

            def inc(self, *args: Any) -> None:
                pass

            def observe(self, *args: Any) -> None:
                pass

        metrics.HTTP_REQUESTS = metrics.HTTP_LATENCY = Nothing()  # type: ignore[assignment]
    if "hooks" in off:
        hooks = {"_require_key", "_check_limit", "_check_json_body"}
        app.before_request_funcs[None] = [
            hook for hook in app.before_request_funcs[None] if hook.__name__ not in hooks]
    return app


def _instrument(on: bool) -> None:
    """Switch callgrind's instrumentation of this process on or off, and wait until it is."""
    control = subprocess.Popen(["callgrind_control", "-i", "on" if on else "off",
                                str(os.getpid())], stdout=subprocess.DEVNULL)
    while control.poll() is None:  # stay busy: valgrind acts on commands between blocks
        sum(range(1000))


def child(off: str, requests: int, redis_url: str) -> None:
    """Run ``requests`` cache-miss requests through the WSGI app, instrumented."""
    parts = set(filter(None, off.split(",")))
    app: Any
    if "io" in parts:
        os.environ.update(REDIS_URL=redis_url, REDIS_KEY_PREFIX=f"bench-cost-{os.getpid()}:")
        from benchmarks.bare_flask_io import app
    else:
        app = _bare_flask() if "flask" in parts else _service_app(parts, redis_url)
    rng = random.Random(7)

    def start_response(status: str, headers: Any) -> None:
        assert status.startswith("200"), status

    for _ in range(50):  # warm-up: lazy loads, connections, first log write
        b"".join(app(_environ(rng), start_response))
    _instrument(True)
    for _ in range(requests):
        b"".join(app(_environ(rng), start_response))
    _instrument(False)


def count(off: str, requests: int, redis_url: str) -> int:
    """Instructions callgrind collected for ``requests`` requests of configuration ``off``."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, "--child", off, "--requests", str(requests),
         "--redis-url", redis_url],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if not match:
        raise RuntimeError(f"no instruction count from callgrind:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def _redis_url() -> str:
    """REDIS_URL, else the machine's Redis on 6379, else an embedded one."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.3).close()
        return "redis://127.0.0.1:6379/14"
    except OSError:
        from ai_backends.core.redis import embedded_redis_url

        url = embedded_redis_url(tempfile.mkdtemp(prefix="bench-redis-"))
        if not url:
            raise SystemExit("no Redis reachable and the embedded one did not start") from None
        return url


def main() -> None:
    """Measure every configuration and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--few", type=int, default=100)
    parser.add_argument("--many", type=int, default=400)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.requests, args.redis_url)
        return
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("needs valgrind (Debian: apt-get install valgrind)")
    redis_url = _redis_url()

    def measure(off: str) -> int:
        extra = count(off, args.many, redis_url) - count(off, args.few, redis_url)
        return extra // (args.many - args.few)

    whole = measure("")
    print(f"Instructions per request ({args.many} minus {args.few} requests, callgrind; "
          f"Redis {redis_url}):\n")
    print("| configuration | instructions | vs the whole request |")
    print("|---|---|---|")
    print(f"| {CONFIGS[0][0]} | {whole / 1e6:.2f} M | 100% |")
    for label, off in CONFIGS[1:]:
        cost = measure(off)
        print(f"| {label} | {cost / 1e6:.2f} M | {cost / whole:.0%} |")


if __name__ == "__main__":
    main()
