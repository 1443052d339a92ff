"""Process lifecycle: whether this process has been asked to stop.

The API's gunicorn worker (``api/gunicorn_worker.py``) calls ``begin_shutdown`` when it gets
SIGTERM. Long work checks ``shutting_down()`` between steps: a generation in progress then
ends with a 503 ``Unavailable`` (an error record at the end of a stream) within a token,
instead of being cut without a word when the graceful timeout runs out.
"""

from __future__ import annotations

import threading

from ai_backends.core.errors import Unavailable

_stopping = threading.Event()
SHUTDOWN_RETRY_AFTER = 5


def begin_shutdown() -> None:
    """Mark this process as stopping (safe to call from a signal handler)."""
    _stopping.set()


def shutting_down() -> bool:
    """True once ``begin_shutdown`` was called in this process."""
    return _stopping.is_set()


def check_not_stopping() -> None:
    """Raise ``Unavailable`` once the process is stopping: long work ends cleanly."""
    if _stopping.is_set():
        raise Unavailable("the server is shutting down; retry the request",
                          retry_after=SHUTDOWN_RETRY_AFTER)
