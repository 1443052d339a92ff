"""Every error leaves the API as an RFC 9457 problem body; this module is the one mapping."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, json, request
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from ai_backends.core.errors import ServiceError, Unavailable
from ai_backends.core.health import minimal_details, redact_paths
from ai_backends.core.schemas import PROBLEM_MEDIA_TYPE

log = logging.getLogger(__name__)
# Discriminator tags pydantic puts in error locations of union bodies; not field names.
_UNION_TAGS = {"single", "batch"}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    """Build a problem+json response; ``extra`` members are added to the body."""
    body = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": g.get("request_id"),
        **extra,
    }
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{field, message, type}`` per pydantic error, with a dotted field path."""
    errors = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        parts = [str(part) for part in error["loc"] if part not in _UNION_TAGS]
        errors.append(
            {"field": ".".join(parts) or "body", "message": error["msg"], "type": error["type"]}
        )
    return errors


def validation_problem(exc: ValidationError) -> Response:
    """422 problem listing every invalid field (flask-openapi3's validation callback)."""
    errors = field_errors(exc)
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return problem(422, "Validation Failed", f"invalid fields: {fields}", "validation-failed",
                   errors=errors)


def _service_error(exc: ServiceError) -> Response:
    detail = redact_paths(exc.detail) if minimal_details(current_app.config) else exc.detail
    response = problem(exc.status, exc.title, detail, exc.slug, **exc.extra)
    if isinstance(exc, Unavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = problem(status, exc.name, exc.description or exc.name,
                       exc.name.lower().replace(" ", "-"))
    for name, value in exc.get_headers():
        if name.lower() in {"allow", "retry-after"}:
            response.headers[name] = value
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in %s %s (request %s)", request.method, request.path,
                  g.get("request_id"))
    return problem(500, "Internal Server Error",
                   f"unexpected error; quote request id {g.get('request_id')} when reporting it",
                   "internal-error")


def _check_json_body() -> Response | None:
    """Bodies must be JSON: 413 over the size limit (however the body arrived, see
    core/wsgi.py), 415 for another media type, 400 when the JSON does not parse."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    if current.method not in BODY_METHODS or not current.path.startswith(("/api/", "/v1/")):
        return None
    length = current.content_length
    if not length and "chunked" not in current.headers.get("Transfer-Encoding", ""):
        return None
    limit = current.max_content_length
    if limit is not None and (length or 0) > limit:
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes")
    if not current.is_json:
        return problem(415, "Unsupported Media Type",
                       f"send the body as application/json, not {current.mimetype or 'nothing'}",
                       "unsupported-media-type")
    try:
        current.get_json()
    except BadRequest:  # a body over MAX_CONTENT_LENGTH raises 413 instead, handled below
        return problem(400, "Bad Request", "the request body is not valid JSON", "bad-request")
    except RecursionError:  # '[' * 100000: the parser gives up before the stack does
        return problem(400, "Bad Request", "the request body is nested too deeply",
                       "bad-request")
    return None


def init_app(app: Flask) -> None:
    """Install the JSON body check and the error handlers on ``app``."""
    app.before_request(_check_json_body)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(ValidationError, validation_problem)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
