"""Generation slots: an LLM request never takes the last request thread of a worker.

A generation holds its thread for seconds (a stream, until its last token), and the
embedded model serves one generation at a time, so without a bound a few LLM requests
could occupy every thread of a worker and hold up classification behind them. Each
worker therefore admits at most ``LLM_CONCURRENCY`` LLM requests at once (default: one
less than its threads); past that, the request gets 503 with Retry-After at once, and the
remaining thread keeps answering everything else.
"""

from __future__ import annotations

import threading

from flask import Flask, Response, g, request

from ai_backends.api.limits import LIMITED_PREFIXES
from ai_backends.core.errors import Unavailable

RETRY_AFTER_SECONDS = 2


def generation_slots(config: dict[str, object]) -> int:
    """How many LLM requests one worker admits at once."""
    configured = int(str(config["LLM_CONCURRENCY"]))
    return configured if configured > 0 else max(1, int(str(config["WEB_THREADS"])) - 1)


def init_app(app: Flask) -> None:
    """Admit LLM requests into a bounded number of slots; free the slot when the answer ends."""
    slots = generation_slots(app.config)
    semaphore = threading.BoundedSemaphore(slots)

    @app.before_request
    def _admit() -> None:
        if request.method != "POST" or not request.path.startswith(LIMITED_PREFIXES):
            return
        if not semaphore.acquire(blocking=False):
            raise Unavailable(f"all {slots} generation slots of this worker are busy; "
                              "classification keeps its own thread", RETRY_AFTER_SECONDS)
        g.generation_slot = True

    # The WSGI server closes the response after its last byte (or when the client goes away):
    # only then is a streamed generation over. Teardown runs before a stream even starts.
    @app.after_request
    def _release_on_close(response: Response) -> Response:
        if g.pop("generation_slot", False):
            response.call_on_close(semaphore.release)
        return response

    @app.teardown_request
    def _release_unanswered(_exc: BaseException | None) -> None:
        if g.pop("generation_slot", False):  # no response was made: free the slot now
            semaphore.release()
