"""The one exception hierarchy of the service.

Services raise these; each edge (Flask API, OIP REST sidecar, gRPC sidecar) maps them once:
Flask to RFC 9457 problem bodies, REST to ``{"error": ...}``, gRPC to a status code.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service reports to a client on purpose."""

    status = 500
    title = "Internal Server Error"
    slug = "internal-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(ServiceError):
    """The request cannot be read: not JSON, wrong content type, malformed tensor."""

    status = 400
    title = "Bad Request"
    slug = "bad-request"


class InvalidInput(ServiceError):
    """The request was read but its values are not acceptable; ``errors`` lists each field."""

    status = 422
    title = "Validation Failed"
    slug = "validation-failed"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])


class NotFound(ServiceError):
    """The named resource (route, model, version, session) does not exist."""

    status = 404
    title = "Not Found"
    slug = "not-found"


class Conflict(ServiceError):
    """The request is valid but the current state does not allow it (e.g. too little data)."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class PromptLeak(ServiceError):
    """The model's answer repeated its system prompt (the canary token), so it was withheld.

    502: the request was valid and the service is up, but the component behind the API (the
    model) produced an answer the service refuses to pass on; retrying the same request may
    get a clean answer, rephrasing it usually does.
    """

    status = 502
    title = "Answer Withheld"
    slug = "system-prompt-leak"


class Unavailable(ServiceError):
    """A dependency the request needs (model, Redis, LLM, sidecar, MLflow) is not available."""

    status = 503
    title = "Service Unavailable"
    slug = "unavailable"

    def __init__(self, detail: str, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after
