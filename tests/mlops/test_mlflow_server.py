"""The whole registry path through a real ``mlflow server`` process (artifacts served by it)."""

from __future__ import annotations

import json
import os
import signal

# Starts the MLflow server this test talks to.
import subprocess  # nosec B404
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ai_backends.classify.training import REFERENCE_FILE, TrainedModel
from ai_backends.core.config import load_config
from ai_backends.core.stack import MLFLOW_UI_ENV
from ai_backends.mlops.registry import ONNX_MODEL, SKLEARN_MODEL, ModelRegistry
from tests.conftest import free_port
from tests.mlops.test_registry import SETOSA, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STARTUP_SECONDS = 90


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    """``mlflow server`` on a free loopback port with its own SQLite store and artifacts."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow.log").open("w")
    server = subprocess.Popen(  # nosec B603
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--artifacts-destination", str(tmp_path / "mlartifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **MLFLOW_UI_ENV},  # as run.py starts it
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "mlflow.log").read_text()[-2000:]
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail(f"mlflow server did not answer in {STARTUP_SECONDS}s")
        yield url, server
    finally:
        stop(server)
        log.close()


def stop(server: subprocess.Popen[Any]) -> None:
    """Stop the server and its workers (its own process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_register_serve_and_manage_through_a_real_server(
        mlflow_server: tuple[str, subprocess.Popen[Any]], trained: tuple[TrainedModel, Path],
        app_config: dict[str, Any], tmp_path: Path) -> None:
    mlflow_url, server = mlflow_server
    registry = ModelRegistry(mlflow_url, tmp_path, load_config())
    model, data_dir = trained
    created = registry.register_trained(model, data_dir / REFERENCE_FILE)
    assert {(r.name, r.version) for r in created} == {(SKLEARN_MODEL, "1"), (ONNX_MODEL, "1")}
    # A second version of the same files is enough to move an alias between versions.
    first = registry.client.get_model_version(ONNX_MODEL, "1")
    registry.client.create_model_version(ONNX_MODEL, source=first.source, run_id=first.run_id,
                                         model_id=first.source.removeprefix("models:/"))
    # Artifacts went to the server, not to a local path.
    assert registry.download_uri(ONNX_MODEL, "1").startswith("mlflow-artifacts:")

    from ai_backends.api.app import create_app

    app = create_app({**app_config, "MLFLOW_TRACKING_URI": mlflow_url,
                      "REGISTRY_REFRESH_SECONDS": 0})
    client = app.test_client()
    for model_format in ("sklearn", "onnx"):
        response = client.post(f"/api/v1/classify-registry?model_format={model_format}",
                               json=SETOSA)
        assert response.status_code == 200, response.json
        info = response.json["model_registry_info"]
        assert info["mlflow_tracking_uri"] == mlflow_url
        assert info["model_version"] == "1"
    assert client.get("/health").json["dependencies"]["mlflow"]["up"] is True

    code, out, _ = run_cli("--tracking-uri", mlflow_url, "--alias", ONNX_MODEL, "2",
                           "production")
    assert code == 0
    url = "/api/v1/classify-registry?model_format=onnx"
    assert client.post(url, json=SETOSA).json["model_version"] == "2"
    code, out, _ = run_cli("--tracking-uri", mlflow_url, "--history", ONNX_MODEL, "--json")
    moves = [(e["from_version"], e["to_version"]) for e in json.loads(out)
             if e["alias"] == "production"]  # the first version also got "staging"
    assert moves == [(None, "1"), ("1", "2")]
    code, out, _ = run_cli("--tracking-uri", mlflow_url, "--list")
    assert code == 0 and SKLEARN_MODEL in out and ONNX_MODEL in out
    # The API lists the registry over the server's REST API, as MLflow's client does.
    assert client.get("/api/v1/models").json["models"] == registry.list_models()
    assert "iris-classifier" in requests.get(
        f"{mlflow_url}/ajax-api/2.0/mlflow/registered-models/search", timeout=5).text

    # The server goes away: the version resolved before keeps answering, anything that
    # needs the registry gets a quick 503, and the rest of the API is unaffected.
    stop(server)
    assert client.post(url, json=SETOSA).json["model_version"] == "2"
    down = client.post(f"{url}&version=1", json=SETOSA)
    assert down.status_code == 503 and down.headers["Retry-After"]
    assert client.post("/api/v1/classify", json=SETOSA).status_code == 200
