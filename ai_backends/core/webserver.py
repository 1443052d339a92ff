"""The HTTP server the API runs under (``WEB_SERVER``): granian (the default) or gunicorn.

Both keep the API's promises (``tests/api/test_webserver.py`` checks each under each):
streamed NDJSON arrives token by token, SIGTERM drains in-flight requests and ends open
generations with a 503 error record, a failed worker is replaced, ``/metrics`` adds up every
worker, and an over-long request line gets problem+json. gunicorn runs the API's own worker
class (``api/gunicorn_worker.py``, settings in ``gunicorn.conf.py``); under granian
``adapt_to_server`` does the same from inside the app. granian costs less CPU per request
(``benchmarks/bench_servers.py``, docs/performance.md), hence the default.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from multiprocessing import current_process
from typing import Any

from ai_backends.core.lifecycle import begin_shutdown
from ai_backends.core.wsgi import LineLimit, WSGIApp

SERVERS = ("granian", "gunicorn")
API_GRACE_SECONDS = 15  # in-flight requests get this long when the API stops
GRANIAN_WORKER = "granian-worker"


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
    # granian's command line, run with a metrics folder for its workers (see granian_main).
    return [sys.executable, "-m", "ai_backends.core.granian_main", "--interface", "wsgi",
            "--host", host, "--port", port,
            "--workers", workers, "--blocking-threads", threads,
            "--respawn-failed-workers",
            "--workers-kill-timeout", str(API_GRACE_SECONDS),
            # Our own JSON access log already has one line per request, with its id.
            "--no-access-log",
            *(["--factory"] if target.endswith("()") else []), target.removesuffix("()")]


def under_granian() -> bool:
    """True in a granian worker process (granian names the processes it spawns)."""
    return "granian" in sys.modules and current_process().name == GRANIAN_WORKER


def adapt_to_server(wsgi_app: WSGIApp) -> WSGIApp:
    """``wsgi_app`` as the running server needs it: under granian, with the request-line
    limit and the stop mark that gunicorn's worker class gives; otherwise unchanged."""
    if not under_granian():
        return wsgi_app
    mark_stop_on_signals()
    return LineLimit(wsgi_app)


def mark_stop_on_signals() -> None:
    """Make granian's worker call ``begin_shutdown`` when it gets SIGTERM/SIGINT.

    A granian WSGI worker installs its stop handler (``granian._signals.set_main_signals``)
    after loading the app, replacing any the app set; there is no public hook for it. This
    wraps that function, so the handler it installs marks the process as stopping first:
    open generations then end with a 503 error record while granian drains.
    """
    try:
        from granian import _signals

        original: Callable[..., None] = _signals.set_main_signals
    except (ImportError, AttributeError):  # another granian: drain without the stop mark
        print("warning: this granian has no _signals.set_main_signals; open generations "
              "will not end with a 503 record on SIGTERM", file=sys.stderr)
        return
    if getattr(original, "marks_stop", False):
        return

    def set_main_signals(interrupt_handler: Callable[..., Any],
                         reload_handler: Callable[..., Any] | None = None) -> None:
        def interrupt(signum: int, frame: Any) -> Any:
            begin_shutdown()
            return interrupt_handler(signum, frame)

        original(interrupt, reload_handler)

    set_main_signals.marks_stop = True  # type: ignore[attr-defined]
    _signals.set_main_signals = set_main_signals
