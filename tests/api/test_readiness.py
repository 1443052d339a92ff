"""/livez and /readyz: an orchestrator's view of one replica."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from ai_backends.api.app import create_app

pytestmark = pytest.mark.integration
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ready_and_alive_with_the_model_even_when_redis_is_down(
        app_config: dict[str, Any]) -> None:
    client = create_app({**app_config,
                         "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}).test_client()
    assert client.get("/livez").json == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json == {"status": "ready", "failing": []}
    assert "redis" in client.get("/health").json["degraded"]  # the detailed view still tells


def test_not_ready_without_the_model_but_still_alive(app_config: dict[str, Any],
                                                     tmp_path: Path) -> None:
    client = create_app({**app_config, "MODEL_DIR": str(tmp_path / "none")}).test_client()
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["failing"] == ["model"]


def test_not_ready_when_the_shared_prediction_store_is_unreachable(
        app_config: dict[str, Any]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/none"
    client = create_app({**app_config, "PREDICTION_STORE": url,
                         "PREDICTION_STORE_WRITE_TIMEOUT": 0.3}).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["failing"] == ["prediction_store"]
    assert client.get("/livez").status_code == 200
    answer = client.post("/api/v1/classify", json=SETOSA)
    assert answer.status_code == 503  # nothing answered that was not logged
    assert "prediction store unreachable" in answer.json["detail"]


def test_probes_need_no_api_key(app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "API_KEYS": ["secret"]}).test_client()
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.post("/api/v1/classify", json=SETOSA
                       ).status_code == 401
