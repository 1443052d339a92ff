"""Schemas shared by every endpoint: the RFC 9457 problem body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


def integral_number(value: Any) -> Any:
    """Turn a float with no fraction into an int: JSON has one number type, and 8.0 is the
    integer 8 (JSON Schema agrees); "8" and true stay what they are and fail a strict int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Dotted path of the field, e.g. samples.0.sepal_length")
    message: str
    type: str = Field(description="Machine-readable error kind, e.g. greater_than")


class Problem(BaseModel):
    """An error response (RFC 9457 problem details)."""

    type: str = Field(description="URI reference naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path")
    request_id: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="Each invalid field, on validation errors"
    )


def problem_responses(*statuses: int) -> dict[int | str, Any]:
    """OpenAPI response entries for error statuses, all with a problem+json body."""
    descriptions = {
        400: "Bad request: body is not JSON or cannot be read",
        401: "Unauthorized: a valid API key is required (when API_KEYS is set)",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict with the current state",
        413: "Request body too large",
        415: "Unsupported media type: send application/json",
        422: "Validation failed: each bad field is listed in errors",
        429: "Too many requests",
        502: "Answer withheld: the model repeated its system prompt (canary token)",
        503: "A dependency is unavailable",
    }
    reference = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "description": descriptions.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": reference}},
        }
        for status in statuses
    }
