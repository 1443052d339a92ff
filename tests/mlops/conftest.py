"""Fixtures of the MLOps tests (the session's trained model and MLflow store are in
tests/conftest.py, shared with the fuzz test)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_backends.api.context import services_of
from ai_backends.classify.training import REFERENCE_FILE, TrainedModel
from ai_backends.core.config import load_config
from ai_backends.mlops.registry import ONNX_MODEL, PRODUCTION, SKLEARN_MODEL, ModelRegistry


@pytest.fixture
def registry(registry_uri: str, tmp_path: Path) -> Any:
    """The session store; aliases moved by a test are put back afterwards."""
    registry = ModelRegistry(registry_uri, tmp_path, load_config())
    yield registry
    for name in (SKLEARN_MODEL, ONNX_MODEL):
        if registry.client.get_registered_model(name).aliases.get(PRODUCTION) != 1:
            registry.client.set_registered_model_alias(name, PRODUCTION, "1")


@pytest.fixture
def app_config(app_config: dict[str, Any], trained: tuple[TrainedModel, Path]) -> dict[str, Any]:
    """The shared app config plus the training reference (for drift reports)."""
    shutil.copy(trained[1] / REFERENCE_FILE, Path(app_config["DATA_DIR"]) / REFERENCE_FILE)
    return {**app_config, "DRIFT_MIN_SAMPLES": 30}


@pytest.fixture
def registry_app(app_config: dict[str, Any], registry_uri: str) -> Iterator[Any]:
    """An app whose registry is the session's MLflow store; aliases re-resolved every time."""
    from ai_backends.api.app import create_app

    app = create_app({**app_config, "MLFLOW_TRACKING_URI": registry_uri,
                      "REGISTRY_REFRESH_SECONDS": 0})
    yield app
    services_of(app).classification.cache.clear()
