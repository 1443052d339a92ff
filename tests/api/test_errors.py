"""Malformed requests get 4xx problem bodies that say what is wrong, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from ai_backends.api.context import services_of

pytestmark = pytest.mark.integration

GOOD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
ENDPOINTS = ["/api/v1/classify", "/api/v1/classify-detailed"]

BAD_BODIES: list[tuple[Any, int, str]] = [
    ({**GOOD, "sepal_length": "5.1"}, 422, "sepal_length"),
    ({**GOOD, "sepal_width": -1}, 422, "sepal_width"),
    ({**GOOD, "petal_length": 0}, 422, "petal_length"),
    ({**GOOD, "petal_width": 1000}, 422, "petal_width"),
    ({**GOOD, "petal_width": None}, 422, "petal_width"),
    ({**GOOD, "petal_width": True}, 422, "petal_width"),
    ({k: v for k, v in GOOD.items() if k != "sepal_width"}, 422, "sepal_width"),
    ({**GOOD, "colour": "blue"}, 422, "colour"),
    ([GOOD], 422, "body"),
    ("just a string", 422, "body"),
    ({}, 422, "sepal_length"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_values_name_the_field(client: Any, endpoint: str, body: Any, status: int,
                                   field: str) -> None:
    response = client.post(endpoint, json=body)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    problem = response.json
    assert problem["status"] == status and problem["title"] and problem["type"]
    assert field in {error["field"] for error in problem["errors"]}
    assert problem["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers(client: Any, endpoint: str, token: str) -> None:
    raw = f'{{"sepal_length": {token}, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}'
    response = client.post(endpoint, data=raw, content_type="application/json")
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "sepal_length"


def test_batch_errors_point_into_the_list(client: Any) -> None:
    response = client.post("/api/v1/classify",
                           json={"samples": [GOOD, {**GOOD, "petal_width": -2}]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == ["samples.1.petal_width"]
    empty = client.post("/api/v1/classify", json={"samples": []})
    assert empty.status_code == 422
    too_many = client.post("/api/v1/classify", json={"samples": [GOOD] * 1001})
    assert too_many.status_code == 422


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "sepal_length=5.1", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "5.1,3.5,1.4,0.2", "content_type": "text/csv"}, 415),
        ({"data": "", "content_type": "application/json"}, 422),
        ({}, 422),
    ],
)
def test_unreadable_bodies(client: Any, kwargs: dict[str, Any], status: int) -> None:
    response = client.post("/api/v1/classify", **kwargs)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.json["detail"]


def test_oversized_body(app: Any, client: Any) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/api/v1/classify", data=b"x" * (limit + 1),
                           content_type="application/json")
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


def test_unknown_route_and_wrong_method(client: Any) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["instance"] == "/api/v1/nothing-here"
    wrong = client.get("/api/v1/classify")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert wrong.content_type == "application/problem+json"


def test_unexpected_error_is_a_problem_with_request_id(app: Any, client: Any,
                                                       monkeypatch: Any) -> None:
    service = services_of(app).classification

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "classify", explode)
    response = client.post("/api/v1/classify", json=GOOD, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert response.json["request_id"] == "abc-123"
    assert "disk on fire" not in response.get_data(as_text=True)  # no internals leak


def test_missing_model_is_503_with_retry_after(app_config: dict[str, Any], tmp_path: Any) -> None:
    from ai_backends.api.app import create_app

    client = create_app({**app_config, "MODEL_DIR": str(tmp_path / "empty")}).test_client()
    response = client.post("/api/v1/classify", json=GOOD)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "train_iris_model" in response.json["detail"]
    assert client.get("/health").status_code == 503
