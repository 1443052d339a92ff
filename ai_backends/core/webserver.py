"""The HTTP server the API runs under (``WEB_SERVER``): gunicorn (the default) or granian.

gunicorn runs the API's own worker class (``api/gunicorn_worker.py``, settings in
``gunicorn.conf.py``): requests it cannot parse get problem+json, and on SIGTERM open
generations end with a 503 error record before the drain. granian's WSGI interface,
measured side by side on the same app (``benchmarks/bench_servers.py``), costs 20-25% less
CPU per API request and about half for a bare Flask app, and keeps streaming, graceful
stops, respawned workers and summed metrics; it does not yet keep those two promises of
the gunicorn worker, so it is the choice where throughput matters more (docs/performance.md).
"""

from __future__ import annotations

import sys
from typing import Any

SERVERS = ("granian", "gunicorn")
API_GRACE_SECONDS = 15  # in-flight requests get this long when the API stops


def api_command(config: dict[str, Any], target: str = "app:app") -> list[str]:
    """The command line that serves the API ``target`` with the configured server."""
    server = config["WEB_SERVER"]
    host, port = config["HOST"], str(config["PORT"])
    workers, threads = str(config["WEB_WORKERS"]), str(config["WEB_THREADS"])
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", target, "--bind", f"{host}:{port}",
                "--workers", workers, "--threads", threads,
                "--graceful-timeout", str(API_GRACE_SECONDS)]
    if server != "granian":
        raise ValueError(f"WEB_SERVER must be one of {', '.join(SERVERS)}, not {server!r}")
    return [sys.executable, "-m", "granian", "--interface", "wsgi",
            "--host", host, "--port", port,
            "--workers", workers, "--blocking-threads", threads,
            "--respawn-failed-workers",
            "--workers-kill-timeout", str(API_GRACE_SECONDS),
            # Our own JSON access log already has one line per request, with its id.
            "--no-access-log",
            *(["--factory"] if target.endswith("()") else []), target.removesuffix("()")]
