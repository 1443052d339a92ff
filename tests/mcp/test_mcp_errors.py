"""The MCP server words every error as the API does, whichever way the error arrived."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ai_backends.classify.schemas import IrisFeatures
from ai_backends.core.errors import Conflict, InvalidInput, Unavailable
from ai_backends.mcp.backends import error_from_problem
from ai_backends.mcp.server import describe_error, invalid_input

pytestmark = pytest.mark.unit


def test_a_problem_answer_becomes_the_service_error_it_came_from() -> None:
    problem = {"title": "Validation Failed", "status": 422, "detail": "invalid fields: limit",
               "errors": [{"field": "limit", "message": "at most 10", "type": "le"}]}
    error = error_from_problem(422, problem)
    assert isinstance(error, InvalidInput)
    assert describe_error(error) == ("Validation Failed (422): invalid fields: limit "
                                     "[limit: at most 10]")

    error = error_from_problem(503, {"detail": "MLflow down"}, retry_after="30")
    assert isinstance(error, Unavailable)
    assert describe_error(error) == "Service Unavailable (503): MLflow down (retry after 30 s)"

    assert isinstance(error_from_problem(409, {"detail": "too few"}), Conflict)


def test_statuses_without_a_service_error_keep_the_api_title() -> None:
    error = error_from_problem(429, {"title": "Too Many Requests", "detail": "30 per minute"})
    assert describe_error(error) == "Too Many Requests (429): 30 per minute"
    # A body that is not a problem (a proxy's HTML page) still gives a reason.
    assert describe_error(error_from_problem(502, None)) == ("Bad Gateway (502): the API "
                                                             "answered HTTP 502")


def test_pydantic_errors_name_each_field_like_the_api() -> None:
    with pytest.raises(ValidationError) as caught:
        IrisFeatures.model_validate({"sepal_length": 0, "sepal_width": 3.5,
                                     "petal_length": "long", "petal_width": 0.2})
    text = describe_error(invalid_input(caught.value))
    assert text.startswith("Validation Failed (422): invalid fields: petal_length, sepal_length")
    assert "sepal_length: Input should be greater than" in text
