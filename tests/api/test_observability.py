"""Metrics, structured logs, API keys and rate limits, as a client and an operator see them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from ai_backends.api.app import create_app
from ai_backends.api.context import services_of
from tests.metrics import metric, sample

pytestmark = pytest.mark.integration

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_metrics_count_requests_by_route_and_status(client: Any) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    client.post("/api/v1/classify", json=SETOSA)
    client.post("/api/v1/classify", json={"sepal_length": "x"})
    after = client.get("/metrics")
    assert after.status_code == 200 and after.content_type.startswith("text/plain")
    text = after.get_data(as_text=True)
    for status in ("200", "422"):
        labels = {"endpoint": "/api/v1/classify", "method": "POST", "status": status}
        assert sample(text, "http_requests_total", **labels) == sample(
            before, "http_requests_total", **labels) + 1
    assert "http_request_duration_seconds_bucket" in text


def test_metrics_count_cache_lookups_and_classifications(client: Any) -> None:
    flower = {**SETOSA, "sepal_length": 5.0123}  # an input no other test sends

    def counts() -> tuple[float, float, float]:
        return (metric(client, "cache_lookups_total", cache="classify", result="hit"),
                metric(client, "cache_lookups_total", cache="classify", result="miss"),
                metric(client, "classifications_total", endpoint="classify",
                       predicted_class="setosa"))

    hits, misses, setosas = counts()
    first = client.post("/api/v1/classify", json=flower)
    second = client.post("/api/v1/classify", json=flower)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert counts() == (hits + 1, misses + 1, setosas + 2)


def test_log_lines_are_json_with_the_request_id(client: Any, caplog: Any) -> None:
    from ai_backends.core.logs import JsonFormatter, RequestIdFilter

    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="ai_backends.access"):
        response = client.post("/api/v1/classify", json=SETOSA, headers={"X-Request-ID": "req-42"})
    record = next(r for r in caplog.records if r.name == "ai_backends.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42" == response.headers["X-Request-ID"]
    assert line["status"] == 200 and line["path"] == "/api/v1/classify"


def test_api_keys_guard_everything_but_public_routes(app_config: dict[str, Any],
                                                     caplog: Any) -> None:
    client = create_app({**app_config, "API_KEYS": ["k-one", "k-two"]}).test_client()
    denied = client.post("/api/v1/classify", json=SETOSA)
    assert denied.status_code == 401 and denied.content_type == "application/problem+json"
    assert denied.headers["WWW-Authenticate"]
    assert client.post("/api/v1/classify", json=SETOSA,
                       headers={"X-API-Key": "wrong"}).status_code == 401
    with caplog.at_level(logging.INFO):
        ok = client.post("/api/v1/classify", json=SETOSA, headers={"X-API-Key": "k-two"})
    assert ok.status_code == 200
    bearer = client.post("/api/v1/classify", json=SETOSA,
                         headers={"Authorization": "Bearer k-one"})
    assert bearer.status_code == 200
    for public in ("/health", "/metrics", "/openapi/openapi.json"):
        assert client.get(public).status_code in (200, 302)
    assert "k-two" not in caplog.text  # keys are never logged


def test_rate_limit_answers_429_with_retry_after(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "RATE_LIMIT_PER_MINUTE": 2})
    limiter = services_of(app).rate_limiter
    assert limiter.hit("llm", "client-a") is None
    assert limiter.hit("llm", "client-a") is None
    retry_after = limiter.hit("llm", "client-a")
    assert retry_after is not None and 1 <= retry_after <= 61
    assert limiter.hit("llm", "client-b") is None  # per client


def test_llm_routes_answer_429_past_the_limit(app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "RATE_LIMIT_PER_MINUTE": 1}).test_client()
    first = client.post("/api/v1/generate", json={"prompt": ""})  # counted, then rejected
    assert first.status_code == 422
    second = client.post("/api/v2/generate", json={"prompt": ""})
    assert second.status_code == 429 and second.content_type == "application/problem+json"
    assert 1 <= int(second.headers["Retry-After"]) <= 61
    assert client.post("/api/v1/classify", json=SETOSA).status_code == 200  # not limited


def test_rate_limiter_lets_requests_through_when_redis_is_down(
        app_config: dict[str, Any]) -> None:
    from tests.conftest import free_port

    app = create_app({**app_config, "RATE_LIMIT_PER_MINUTE": 1,
                      "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    limiter = services_of(app).rate_limiter
    assert [limiter.hit("llm", "c") for _ in range(3)] == [None, None, None]
