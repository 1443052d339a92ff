"""GET /api/v1/models: the registry as the console's Registry panel reads it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_models_lists_versions_aliases_and_production(app_config: dict[str, Any],
                                                      tmp_path: Any) -> None:
    """After one registration both models are listed, version 1 carrying production and
    staging and in the (deprecated) stage Production, so every documented selector works."""
    from ai_backends.api.app import create_app
    from ai_backends.classify.training import train_model
    from ai_backends.mlops.registry import ModelRegistry

    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    ModelRegistry(uri, tmp_path).register_trained(train_model(tmp_path / "m", tmp_path))
    client = create_app({**app_config, "MLFLOW_TRACKING_URI": uri}).test_client()
    body = client.get("/api/v1/models").get_json()
    assert body["tracking_uri"] == uri
    names = [model["name"] for model in body["models"]]
    assert names == ["iris-classifier-onnx", "iris-classifier-sklearn"]
    for model in body["models"]:
        assert model["aliases"] == {"production": "1", "staging": "1"}
        [version] = model["versions"]
        assert version["version"] == "1" and version["aliases"] == ["production", "staging"]
        assert version["stage"] == "Production"
        assert float(version["accuracy"]) > 0.8


def test_models_with_mlflow_down_is_a_503_problem(app_config: dict[str, Any]) -> None:
    """An MLflow server that does not answer gives a 503 problem naming it, with Retry-After."""
    from ai_backends.api.app import create_app

    url = f"http://127.0.0.1:{free_port()}"
    client = create_app({**app_config, "MLFLOW_TRACKING_URI": url}).test_client()
    response = client.get("/api/v1/models")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "unavailable" in response.get_json()["detail"]
    assert response.headers["Retry-After"]
