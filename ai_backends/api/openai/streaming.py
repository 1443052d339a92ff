"""Server-sent events of the OpenAI surface: ``data: {chunk}`` events, then ``data: [DONE]``.

The first text piece is pulled before the response starts, so a failure before any text
(backend down, prompt too long for the context) is an ordinary error response with its
status. A failure after that cannot change the status any more: it arrives as a last
``data: {"error": {...}}`` event, which OpenAI's SDKs raise as an APIError.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

from flask import Response, g, request, stream_with_context

from ai_backends.api.openai.errors import openai_error
from ai_backends.core.errors import ServiceError
from ai_backends.llm.openai import ChatStream, ChunkWriter

log = logging.getLogger(__name__)
SSE_MEDIA_TYPE = "text/event-stream"


def sse_response(stream: ChatStream, response_id: str, created: int, chat: bool,
                 include_usage: bool) -> Response:
    """Stream an answer as OpenAI's chunks."""
    source = stream.pieces
    first = next(source, None)  # errors before the first piece raise here, with a status
    stream.pieces = itertools.chain([] if first is None else [first], source)
    writer = ChunkWriter(stream, response_id, created, chat, include_usage)
    path, request_id = request.path, g.get("request_id")

    def events() -> Iterator[str]:
        try:
            for chunk in writer.chunks():
                yield _event(chunk)
            yield "data: [DONE]\n\n"
        except ServiceError as exc:
            yield _error_event(exc.status, exc.title, exc.detail, path, request_id, exc.extra)
        except Exception:  # the status line is already sent; report the failure in-band
            log.exception("stream failed in %s (request %s)", path, request_id)
            yield _error_event(500, "Internal Server Error",
                               f"unexpected error; quote request id {request_id}", path,
                               request_id, {})
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a client that went away stops the generation at once

    return Response(stream_with_context(events()), mimetype=SSE_MEDIA_TYPE,
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _error_event(status: int, title: str, detail: str, path: str, request_id: str | None,
                 extra: dict[str, Any]) -> str:
    _, body = openai_error({"status": status, "title": title, "detail": detail,
                            "instance": path, "request_id": request_id, **extra})
    return _event(body)
