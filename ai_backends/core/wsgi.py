"""WSGI middleware shared by the API and the REST sidecar: every body counts toward the limit,
and (under granian) an over-long request line gets the API's problem+json.

Werkzeug trusts a server that terminates chunked input (``wsgi.input_terminated``) and then
reads at most ``MAX_CONTENT_LENGTH`` bytes of it, silently: a chunked body over the limit was
cut to the limit and parsed (200 for a valid body padded with 5 MB of spaces, 400 "not JSON"
for a 50 MB one). ``CountedBody`` reads a body of unknown length up to one byte over the
limit and hands the app an ordinary body of known length, so the app's own check answers
413 however the body arrived.

gunicorn refuses a request line over 4,094 bytes (414) before the app sees it, and the API's
worker answers that in problem+json; granian hands such a line to the app. ``LineLimit``
gives the same 414 problem+json there (``core/webserver.py`` installs it under granian).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from ai_backends.core.schemas import PROBLEM_MEDIA_TYPE

CHUNK_BYTES = 64 * 1024
REQUEST_LINE_LIMIT = 4094  # gunicorn's default limit_request_line

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CountedBody:
    """Turn a body without ``Content-Length`` into one with it, reading at most ``limit + 1``
    bytes; a longer body keeps the ``limit + 1`` as its length, which the app answers 413."""

    def __init__(self, app: WSGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Count the body when the server could not say how long it is, then call the app."""
        if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
            body = read_at_most(environ["wsgi.input"], self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def read_at_most(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of a WSGI input stream, fewer when it ends first."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(min(CHUNK_BYTES, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def server_problem(status: int, reason: str, detail: str) -> bytes:
    """The problem+json body for a request refused before the app could route it."""
    return json.dumps({"type": f"/problems/{reason.lower().replace(' ', '-')}",
                       "title": reason, "status": status, "detail": detail or reason}).encode()


class LineLimit:
    """Answer a request line longer than ``limit`` bytes with 414 problem+json, as gunicorn
    with the API's worker does, instead of routing it."""

    def __init__(self, app: WSGIApp, limit: int = REQUEST_LINE_LIMIT) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Refuse an over-long line; pass everything else on untouched."""
        uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or (
            environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
        line = len(uri) + len(environ.get("REQUEST_METHOD", "")) + len(
            environ.get("SERVER_PROTOCOL", "")) + 2
        if line <= self.limit:
            return self.app(environ, start_response)
        body = server_problem(414, "URI Too Long",
                              f"the request line is longer than {self.limit} bytes")
        start_response("414 URI Too Long", [("Content-Type", PROBLEM_MEDIA_TYPE),
                                            ("Content-Length", str(len(body)))])
        return [body]
