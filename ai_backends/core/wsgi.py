"""WSGI middleware shared by the API and the REST sidecar: every body counts toward the limit.

Werkzeug trusts a server that terminates chunked input (``wsgi.input_terminated``) and then
reads at most ``MAX_CONTENT_LENGTH`` bytes of it, silently: a chunked body over the limit was
cut to the limit and parsed (200 for a valid body padded with 5 MB of spaces, 400 "not JSON"
for a 50 MB one). ``CountedBody`` reads a body of unknown length up to one byte over the
limit and hands the app an ordinary body of known length, so the app's own check answers
413 however the body arrived.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

CHUNK_BYTES = 64 * 1024

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
            body = _read_at_most(environ["wsgi.input"], self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _read_at_most(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = stream.read(min(CHUNK_BYTES, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)
