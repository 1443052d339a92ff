"""The error mapping of the OpenAI edge: every error under /v1/ leaves in OpenAI's shape.

The rest of the API answers RFC 9457 problems (api/problems.py); OpenAI clients expect
``{"error": {"message", "type", "param", "code"}}`` and pick their exception from the
status (401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, 400
BadRequestError...). Errors are raised and rendered as problems exactly as elsewhere (auth,
rate limits, validation, service errors); this module translates those problems once, by
the table below, on their way out. Headers (Retry-After, WWW-Authenticate, X-Request-ID)
are kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Response, request

from ai_backends.core.schemas import PROBLEM_MEDIA_TYPE

PREFIX = "/v1/"
# problem status -> (status sent, OpenAI error type, default code)
ERROR_TABLE: dict[int, tuple[int, str, str | None]] = {
    400: (400, "invalid_request_error", None),
    401: (401, "authentication_error", "invalid_api_key"),
    403: (403, "permission_error", None),
    404: (404, "invalid_request_error", "not_found"),
    405: (405, "invalid_request_error", "method_not_allowed"),
    409: (409, "invalid_request_error", "conflict"),
    413: (413, "invalid_request_error", "request_too_large"),
    415: (415, "invalid_request_error", "unsupported_media_type"),
    # OpenAI reports invalid values as 400 (its SDKs raise BadRequestError for them).
    422: (400, "invalid_request_error", "invalid_value"),
    429: (429, "rate_limit_error", "rate_limit_exceeded"),
    500: (500, "server_error", None),
    503: (503, "server_error", "service_unavailable"),
}
# Members of a problem body that stay inside the error object (the screen's verdict, ids).
KEPT_MEMBERS = ("request_id", "security_analysis", "errors")
_REFUSED = "is not supported by this server"
_CONTEXT = "model context"  # what the backends say of a prompt their context cannot hold
_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|\d+)$")
# Segments pydantic adds to an error's location for the branches of a union (str | list).
_UNION_BRANCHES = {"str", "int", "float", "bool", "list", "dict", "none", "nullable"}


def openai_error(problem: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI body of a problem body (the one translation of this edge)."""
    status = int(problem.get("status", 500))
    sent, kind, code = ERROR_TABLE.get(status, (status, "server_error" if status >= 500
                                                else "invalid_request_error", None))
    errors = problem.get("errors") or []
    message = str(problem.get("detail") or problem.get("title") or "error")
    param = problem.get("param")
    if errors:
        errors = [{**e, "field": _field(e["field"])} for e in errors]
        message = "; ".join(_error_text(e) for e in errors)
        first = errors[0]["field"]
        param = param or (None if first == "body" else first)
        if any(e.get("type") == "too_long" and _CONTEXT in e["message"] for e in errors):
            # The prompt does not fit the model: OpenAI's own code for that case.
            code, param = "context_length_exceeded", "messages"
            message = str(problem.get("detail") or message)
        elif any(_REFUSED in e["message"] or e.get("type") == "extra_forbidden"
                 for e in errors):
            code = "unsupported_parameter"
    error = {"message": message, "type": kind, "param": param,
             "code": problem.get("code") or code}
    error.update({name: problem[name] for name in KEPT_MEMBERS if problem.get(name)})
    return sent, {"error": error}


def _field(dotted: str) -> str:
    """A parameter path without pydantic's union-branch segments ("stop.list[str].0")."""
    parts = [part for part in dotted.split(".")
             if _NAME.match(part) and part not in _UNION_BRANCHES]
    return ".".join(parts) or "body"


def _error_text(error: dict[str, Any]) -> str:
    text = str(error["message"]).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        text = "unknown parameter, refused rather than ignored"
    return text if error["field"] == "body" else f"{error['field']}: {text}"


def _translate(response: Response) -> Response:
    if not request.path.startswith(PREFIX) or response.mimetype != PROBLEM_MEDIA_TYPE:
        return response
    try:
        problem = json.loads(response.get_data())
    except ValueError:
        return response
    status, body = openai_error(problem)
    response.set_data(json.dumps(body))
    response.status_code = status
    response.mimetype = "application/json"
    return response


def document(spec: dict[str, Any]) -> None:
    """Give the /v1 operations of an OpenAPI document their real error bodies and statuses."""
    reference = {"$ref": "#/components/schemas/ErrorBody"}
    for path, path_item in spec.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for operation in path_item.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)  # answered as 400
            for status, entry in responses.items():
                if str(status).isdigit() and int(status) >= 400:
                    entry["content"] = {"application/json": {"schema": reference}}


def init_app(app: Flask) -> None:
    """Translate every problem answered under /v1/ into OpenAI's error shape."""
    app.after_request(_translate)
