"""The gunicorn worker of the API: problem+json for what gunicorn rejects, clean stops.

gunicorn answers a request it cannot parse (a request line over ``limit_request_line``, too
many or too large headers, a malformed line) with its own HTML page before the app sees it.
This worker answers those with the same RFC 9457 body as every other error of the API.
On SIGTERM it marks the process as stopping (``core/lifecycle.py``) so that generations in
progress end with a 503 / an error record while gunicorn drains, rather than being killed
mid-token at the graceful timeout; an idle keep-alive connection does not hold the stop.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

from ai_backends.core.lifecycle import begin_shutdown
from ai_backends.core.schemas import PROBLEM_MEDIA_TYPE
from ai_backends.core.wsgi import server_problem

log = logging.getLogger(__name__)

# gunicorn's parse errors -> (status, reason); anything else keeps gunicorn's own handling.
PARSE_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.LimitRequestLine, 414, "URI Too Long"),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large"),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented"),
    (errors.InvalidRequestLine, 400, "Bad Request"),
    (errors.InvalidRequestMethod, 400, "Bad Request"),
    (errors.InvalidHTTPVersion, 400, "Bad Request"),
    (errors.InvalidHeader, 400, "Bad Request"),
    (errors.InvalidHeaderName, 400, "Bad Request"),
    (errors.InvalidSchemeHeaders, 400, "Bad Request"),
    (errors.ObsoleteFolding, 400, "Bad Request"),
)


def parse_problem(exc: Exception) -> bytes | None:
    """The whole HTTP response (problem+json, connection closed) for a parse error, or None."""
    for kind, status, reason in PARSE_ERRORS:
        if isinstance(exc, kind):
            body = server_problem(status, reason, str(exc))
            head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                    f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n")
            return head.encode("latin-1") + body
    return None


class ProblemWorker(ThreadWorker):
    """gunicorn's threaded worker, answering requests it cannot parse with problem+json."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: let open generations end with an error record, then drain as gunicorn does."""
        begin_shutdown()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGINT/SIGQUIT: the same mark before gunicorn's quick exit."""
        begin_shutdown()
        super().handle_quit(sig, frame)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """While draining, wake at least every second, so that an idle keep-alive connection
        is closed when its keep-alive ends rather than holding the stop for the whole
        graceful timeout (gunicorn's drain loop waits ``graceful_timeout`` for an event)."""
        super().wait_for_and_dispatch_events(timeout if self.alive else min(timeout, 1.0))

    def handle_error(self, req: Any, client: Any, addr: Any, exc: Exception) -> None:
        """problem+json for a parse error; gunicorn's own handling for anything else."""
        response = parse_problem(exc)
        if response is None:
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, response)
        except OSError:
            self.log.debug("Failed to send error message.")
