"""Shared fixtures: a trained model in a temp folder, a real Redis, an app and its client."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ai_backends.api.context import services_of
from ai_backends.classify.training import REFERENCE_FILE, TrainedModel, train, train_model
from ai_backends.core.config import load_config

TEST_REDIS_DB = 15


def _reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.3).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real Redis: TEST_REDIS_URL, else the machine's on 6379 (db 15), else an embedded one."""
    url = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{TEST_REDIS_DB}")
    if _reachable(url):
        return url
    from ai_backends.core.redis import embedded_redis_url

    embedded = embedded_redis_url(tmp_path_factory.mktemp("redis"))
    assert embedded, "no Redis reachable and the embedded one did not start"
    return embedded


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly trained model, shared by the session."""
    folder = tmp_path_factory.mktemp("models")
    train(folder, tmp_path_factory.mktemp("training-data"))
    return folder


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
    from ai_backends.mlops.registry import ModelRegistry  # imports mlflow: only when needed

    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    registry = ModelRegistry(uri, store, load_config())
    model, data_dir = trained
    registry.register_trained(model, data_dir / REFERENCE_FILE)
    registry.register_trained(model, data_dir / REFERENCE_FILE)
    return uri


@pytest.fixture
def app_config(tmp_path: Path, model_dir: Path, redis_url: str) -> dict[str, Any]:
    """Config of an isolated app: own data folder and log, a real Redis, nothing else up."""
    return {
        "MODEL_DIR": str(model_dir),
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "HTTP_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
        "GRPC_SIDECAR_TARGET": f"127.0.0.1:{free_port()}",
        "TESTING": True,
        "RATE_LIMIT_PER_MINUTE": 0,  # tests of the limiter turn it on themselves
        "REDIS_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    """The API built by the factory."""
    from ai_backends.api.app import create_app

    app = create_app(app_config)
    yield app
    services_of(app).classification.cache.clear()


@pytest.fixture
def client(app: Any) -> Any:
    """Flask test client of ``app``."""
    return app.test_client()


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pytest_unconfigure(config: Any) -> None:
    """End with a loud list of what did not run and why (skips are easy to miss).

    After everything else pytest prints, so it is the last thing on the screen.
    """
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    skipped = terminalreporter.stats.get("skipped", []) if terminalreporter else []
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        longrepr = report.longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.write_sep("!", f"{len(skipped)} TESTS DID NOT RUN", red=True, bold=True)
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{count:>5} not run: {reason}", red=True, bold=True)
