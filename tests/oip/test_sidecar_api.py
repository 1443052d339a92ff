"""/api/v1/classify-http, -grpc and -benchmark against the real sidecars, and without them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ai_backends.api.app import create_app
from ai_backends.api.context import services_of
from ai_backends.oip.schemas import BenchmarkResponse, SidecarClassification
from tests.metrics import metric

from .servers import Sidecar

pytestmark = pytest.mark.integration

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


@pytest.fixture
def make_client(app_config: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Builds test clients of APIs wired to given sidecars (None: a port nobody listens on)."""
    apps = []

    def make(http: Sidecar | None, grpc: Sidecar | None) -> Any:
        config = dict(app_config)
        if http:
            config["HTTP_SIDECAR_URL"] = http.address
        if grpc:
            config["GRPC_SIDECAR_TARGET"] = grpc.address
        apps.append(create_app(config))
        return apps[-1].test_client()

    yield make
    for app in apps:  # drop what /classify cached under this test's key prefix
        services_of(app).classification.cache.clear()


@pytest.fixture
def client_up(make_client: Any, http_sidecar: Sidecar, grpc_sidecar: Sidecar) -> Any:
    return make_client(http_sidecar, grpc_sidecar)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_classify_via_sidecar_matches_classify(client_up: Any, protocol: str) -> None:
    calls = metric(client_up, "sidecar_requests_total", protocol=protocol, outcome="ok")
    for flower, expected in [(SETOSA, "setosa"), (VIRGINICA, "virginica")]:
        response = client_up.post(f"/api/v1/classify-{protocol}", json=flower)
        assert response.status_code == 200, response.json
        body = SidecarClassification.model_validate(response.json)
        assert body.protocol == {"http": "HTTP", "grpc": "gRPC"}[protocol] and body.predicted_class == expected
        assert body.processing_time_ms > 0
        local = client_up.post("/api/v1/classify", json=flower).json
        assert body.probabilities == pytest.approx(local["probabilities"])
        assert body.model_version == local["model_version"]
        assert body.all_classes == local["all_classes"]
    assert metric(client_up, "sidecar_requests_total", protocol=protocol, outcome="ok") == (
        calls + 2)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_sidecar_classifications_are_logged(client_up: Any, app_config: dict[str, Any],
                                            protocol: str) -> None:
    from ai_backends.classify.predlog import PredictionLog

    response = client_up.post(f"/api/v1/classify-{protocol}", json=VIRGINICA)
    rows = PredictionLog(f"{app_config['DATA_DIR']}/predictions.csv").read()
    assert [(r["endpoint"], r["request_id"], r["predicted_class"]) for r in rows] == [
        (f"classify-{protocol}", response.headers["X-Request-ID"], "virginica")]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_invalid_features_are_422_before_any_sidecar_call(client_up: Any, protocol: str) -> None:
    response = client_up.post(f"/api/v1/classify-{protocol}", json={**SETOSA, "petal_width": -1})
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "petal_width"


def test_benchmark_reports_both_protocols(client_up: Any) -> None:
    response = client_up.post("/api/v1/classify-benchmark", json={**SETOSA, "iterations": 20})
    assert response.status_code == 200, response.json
    body = BenchmarkResponse.model_validate(response.json)
    assert body.http and body.grpc and body.failures == {}
    for stats in (body.http, body.grpc):
        assert stats.min_ms <= stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
        assert stats.requests_per_second > 0
    assert body.faster_protocol in {"http", "grpc"} and body.speedup_factor >= 1
    faster, slower = sorted([body.http.mean_ms, body.grpc.mean_ms])
    assert body.time_difference_ms == pytest.approx(slower - faster, abs=1e-3)


@pytest.mark.parametrize("iterations", [0, 1001, "ten"])
def test_benchmark_iterations_are_bounded(client_up: Any, iterations: Any) -> None:
    response = client_up.post("/api/v1/classify-benchmark",
                              json={**SETOSA, "iterations": iterations})
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "iterations"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_sidecar_down_is_a_503_problem(make_client: Any, protocol: str) -> None:
    client = make_client(None, None)  # app_config points at unused ports
    response = client.post(f"/api/v1/classify-{protocol}", json=SETOSA)
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert "unreachable" in response.json["detail"] or "UNAVAILABLE" in response.json["detail"]
    assert response.headers["Retry-After"]
    assert client.post("/api/v1/classify", json=SETOSA).status_code == 200  # rest still works


def test_benchmark_with_one_sidecar_down_names_the_failure(
    make_client: Any, http_sidecar: Sidecar
) -> None:
    client = make_client(http_sidecar, None)
    response = client.post("/api/v1/classify-benchmark", json={**SETOSA, "iterations": 5})
    assert response.status_code == 200
    body = BenchmarkResponse.model_validate(response.json)
    assert body.http is not None and body.grpc is None
    assert "grpc" in body.failures and body.faster_protocol is None


def test_benchmark_with_both_down_is_503(make_client: Any) -> None:
    response = make_client(None, None).post(
        "/api/v1/classify-benchmark", json={**SETOSA, "iterations": 5})
    assert response.status_code == 503
    assert "http:" in response.json["detail"] and "grpc:" in response.json["detail"]


def test_health_probes_the_sidecars_with_the_protocol(
    make_client: Any, http_sidecar: Sidecar, grpc_sidecar: Sidecar
) -> None:
    up = make_client(http_sidecar, grpc_sidecar).get("/health").json
    assert up["dependencies"]["grpc_sidecar"]["up"] is True
    assert "ServerReady: true" in up["dependencies"]["grpc_sidecar"]["detail"]
    assert up["dependencies"]["http_sidecar"]["up"] is True
    down = make_client(None, None).get("/health").json
    assert down["dependencies"]["grpc_sidecar"]["up"] is False
    assert "grpc_sidecar" in down["degraded"]
