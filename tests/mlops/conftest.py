"""Fixtures of the MLOps tests: one trained model and one real MLflow store per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ai_backends.config import load_config
from ai_backends.registry import ONNX_MODEL, PRODUCTION, SKLEARN_MODEL, ModelRegistry
from ai_backends.training import REFERENCE_FILE, TrainedModel, train_model


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedModel, Path]:
    """A training run kept in memory (the registry needs the estimator) and its data dir."""
    folder = tmp_path_factory.mktemp("mlops-training")
    return train_model(folder / "models", folder / "data"), folder / "data"


@pytest.fixture(scope="session")
def registry_uri(tmp_path_factory: pytest.TempPathFactory,
                 trained: tuple[TrainedModel, Path]) -> str:
    """A real MLflow SQLite store with two registered versions of both models (v1 is
    production). Registering is the slow part of these tests, so it happens once."""
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    registry = ModelRegistry(uri, store, load_config())
    model, data_dir = trained
    registry.register_trained(model, data_dir / REFERENCE_FILE)
    registry.register_trained(model, data_dir / REFERENCE_FILE)
    return uri


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
    from ai_backends.factory import create_app

    app = create_app({**app_config, "MLFLOW_TRACKING_URI": registry_uri,
                      "REGISTRY_REFRESH_SECONDS": 0})
    yield app
    app.extensions["ai_backends.classification"].cache.clear()
