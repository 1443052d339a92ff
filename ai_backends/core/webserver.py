"""The HTTP server the API runs under: granian (the default) or gunicorn.

Measured side by side on the same app (``benchmarks/bench_servers.py``), granian's WSGI
interface serves /api/v1/classify at about twice gunicorn's rate for less CPU per request,
and it keeps what the service promises: streamed NDJSON answers, graceful stops on SIGTERM
or SIGINT, failed workers respawned, and one Prometheus multiprocess folder for all workers.
gunicorn stays available (``WEB_SERVER=gunicorn``, settings in ``gunicorn.conf.py``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

SERVERS = ("granian", "gunicorn")
STOP_GRACE_SECONDS = 15


def metrics_dir(config: dict[str, Any]) -> Path:
    """The folder where every API worker writes its Prometheus samples."""
    return Path(config["DATA_DIR"]) / "prometheus"


def fresh_metrics_dir(config: dict[str, Any]) -> Path:
    """Empty the metrics folder (samples of a previous run would be summed in) and return it."""
    folder = metrics_dir(config)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def api_command(config: dict[str, Any], target: str = "app:app") -> list[str]:
    """The command line that serves the API ``target`` with the configured server."""
    server = config["WEB_SERVER"]
    host, port = config["HOST"], str(config["PORT"])
    workers, threads = str(config["WEB_WORKERS"]), str(config["WEB_THREADS"])
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", target, "--bind", f"{host}:{port}",
                "--workers", workers, "--threads", threads,
                "--graceful-timeout", str(STOP_GRACE_SECONDS)]
    if server != "granian":
        raise ValueError(f"WEB_SERVER must be one of {', '.join(SERVERS)}, not {server!r}")
    return [sys.executable, "-m", "granian", "--interface", "wsgi",
            "--host", host, "--port", port,
            "--workers", workers, "--blocking-threads", threads,
            "--respawn-failed-workers",
            "--workers-kill-timeout", str(STOP_GRACE_SECONDS),
            # Our own JSON access log already has one line per request, with its id.
            "--no-access-log",
            *(["--factory"] if target.endswith("()") else []), target.removesuffix("()")]
