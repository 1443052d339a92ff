"""gunicorn settings, read automatically when gunicorn starts from the repository root.

Bind address, workers and threads come from the same configuration as everything else;
command-line flags still override them. Also sets up Prometheus' multi-process mode so
/metrics adds up every worker.
"""

import os
import shutil
import tempfile

from ai_backends.core.config import load_config

_config = load_config()
bind = f"{_config['HOST']}:{_config['PORT']}"
workers = _config["WEB_WORKERS"]
threads = _config["WEB_THREADS"]
# gunicorn's threaded worker, except that requests it cannot parse (a 10 kB request line)
# get problem+json like every other error instead of gunicorn's HTML page.
worker_class = "ai_backends.api.gunicorn_worker.ProblemWorker"
graceful_timeout = 15
timeout = 120  # an LLM generation on 2 cores can take a while
# gunicorn >= 27 opens a control socket at one fixed path per user, so a second server on
# the same machine (tests, benchmarks, the sidecar) would clash with it; we do not use it.
control_socket_disable = True


_own_metrics_dir = None  # a folder this server made itself, removed again when it stops


def on_starting(server):  # noqa: ARG001
    """Give the workers a fresh folder for their metric samples."""
    global _own_metrics_dir
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    else:
        _own_metrics_dir = tempfile.mkdtemp(prefix="ai-backends-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir


def on_exit(server):  # noqa: ARG001
    """Remove the metrics folder made in ``on_starting`` (run.py removes the one it gives)."""
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)


def child_exit(server, worker):  # noqa: ARG001
    """Stop counting a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
