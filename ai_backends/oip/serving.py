"""The sidecars' main processes: ``python http_server.py`` and ``python grpc_server.py``.

Each sidecar is a main process with ``HTTP_SIDECAR_WORKERS`` / ``GRPC_SIDECAR_PROCESSES``
workers. The main process only starts, watches and stops its workers, so it imports neither
the model (numpy, ONNX Runtime) nor the web or gRPC stack: each worker imports them itself
after the fork (``http_sidecar.sidecar_app``, ``grpc_sidecar.serve_one``). That keeps about
30 MB per main process that no request ever used.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from ai_backends.core.config import load_config
from ai_backends.oip.access import check_exposure

log = logging.getLogger(__name__)
WORKER_BACKOFF_FIRST = 0.5  # seconds before a dead worker is replaced...
WORKER_BACKOFF_MAX = 30.0  # ...doubling while replacements keep dying, up to this
WORKER_STABLE_SECONDS = 30.0  # a worker that ran this long starts the back-off afresh


def serve_http(config: dict[str, Any] | None = None) -> None:
    """Run the REST sidecar until SIGTERM or Ctrl-C (the entry point).

    granian by default (``HTTP_SIDECAR_SERVER``): measured at about half gunicorn's CPU per
    request here (``benchmarks/bench_sidecars.py``); gunicorn with sync workers otherwise.
    """
    settings = config or load_config()
    try:
        check_exposure("the REST sidecar", settings["HTTP_SIDECAR_HOST"],
                       settings["SIDECAR_API_KEY"])
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc  # exit status 1, the reason on stderr
    if settings["HTTP_SIDECAR_SERVER"] != "granian":
        from ai_backends.oip.http_sidecar import serve_gunicorn

        serve_gunicorn(settings)
        return
    from granian.constants import Interfaces
    from granian.server import Server

    # The workers import the app's module; this process never does.
    Server("ai_backends.oip.http_sidecar:sidecar_app", address=settings["HTTP_SIDECAR_HOST"],
           port=settings["HTTP_SIDECAR_PORT"], interface=Interfaces.WSGI, factory=True,
           workers=settings["HTTP_SIDECAR_WORKERS"], blocking_threads=1,
           respawn_failed_workers=True, log_access=False,
           workers_kill_timeout=settings["SIDECAR_GRACE_SECONDS"]).serve()


def serve_grpc(config: dict[str, Any] | None = None) -> int:
    """Run the gRPC sidecar until SIGTERM or Ctrl-C, then drain in-flight calls."""
    settings = config or load_config()
    logging.basicConfig(level=settings["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_exposure("the gRPC sidecar", settings["GRPC_SIDECAR_HOST"],
                       settings["SIDECAR_API_KEY"])
    except ValueError as exc:
        log.error("%s", exc)
        return 1
    processes = settings["GRPC_SIDECAR_PROCESSES"]
    if processes <= 1:
        try:
            _grpc_worker(settings, share_port=False)
        except OSError as exc:
            log.error("%s", exc)
            return 1
        return 0
    return run_workers(functools.partial(_grpc_worker, settings, share_port=True), processes,
                       settings["SIDECAR_GRACE_SECONDS"])


def _grpc_worker(settings: dict[str, Any], share_port: bool) -> None:
    from ai_backends.oip.grpc_sidecar import serve_one  # gRPC and the model: workers only

    serve_one(settings, share_port)


def run_workers(target: Callable[[], None], processes: int, grace: float) -> int:
    """Run ``target`` in ``processes`` forked workers until SIGTERM; return an exit code.

    One Python process serves on one core at a time (the GIL); like gunicorn's workers,
    several processes sharing the port use every core. They are forked before any gRPC
    object exists, as gRPC requires. A worker that dies is replaced, as gunicorn does (after
    a back-off that grows while replacements keep dying, up to ``WORKER_BACKOFF_MAX``);
    its siblings keep serving. SIGTERM is passed on and each worker drains its calls.
    """
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())

    def spawn(slot: int) -> multiprocessing.process.BaseProcess:
        worker = context.Process(target=target, name=f"oip-grpc-{slot}")
        worker.start()
        return worker

    workers = [spawn(slot) for slot in range(processes)]
    started = [time.monotonic()] * processes
    backoff = [WORKER_BACKOFF_FIRST] * processes
    due: list[float | None] = [None] * processes
    while not stopping.wait(0.2):
        now = time.monotonic()
        for slot, worker in enumerate(workers):
            if due[slot] is not None:
                if now >= due[slot]:  # type: ignore[operator]
                    workers[slot], started[slot], due[slot] = spawn(slot), now, None
                    log.warning("gRPC worker %d replaced by pid %d", slot, workers[slot].pid)
                continue
            if worker.is_alive():
                continue
            if now - started[slot] > WORKER_STABLE_SECONDS:
                backoff[slot] = WORKER_BACKOFF_FIRST
            log.error("gRPC worker pid %d exited with %s; replacing it in %.1fs",
                      worker.pid, worker.exitcode, backoff[slot])
            due[slot] = now + backoff[slot]
            backoff[slot] = min(backoff[slot] * 2, WORKER_BACKOFF_MAX)
    for worker in workers:
        if worker.is_alive() and worker.pid:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(grace + 5)
        if worker.is_alive():
            worker.kill()
            worker.join()
    return 0 if all(w.exitcode == 0 for w in workers) else 1
