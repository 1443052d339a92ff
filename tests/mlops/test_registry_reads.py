"""The registry reads of the API workers (SQL on the embedded store) against MLflow's client."""

from __future__ import annotations

import json

# Runs an API in a fresh interpreter to see which modules a registry request imports.
import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import Any

import pytest

from ai_backends.core.config import ROOT, load_config
from ai_backends.core.errors import NotFound, ServiceError, Unavailable
from ai_backends.mlops.registry import ONNX_MODEL, SKLEARN_MODEL
from ai_backends.mlops.registry_reads import SqliteReads, local_path, registry_reads

pytestmark = pytest.mark.integration

SELECTORS: list[dict[str, Any]] = [
    {"alias": "production"}, {"alias": "staging"}, {"alias": "latest"}, {"alias": "LATEST"},
    {"version": 1}, {"version": 2}, {"stage": "Production"}, {"stage": "Staging"},
    {"stage": "None"}, {"alias": "no-such-alias"}, {"version": 99}, {"stage": "Archived"},
]


def outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The answer of ``call(*args, **kwargs)``, or the class of the error it raised."""
    try:
        return call(*args, **kwargs)
    except ServiceError as exc:
        return type(exc)


@pytest.mark.parametrize("name", [ONNX_MODEL, SKLEARN_MODEL, "no-such-model"])
def test_sql_reads_answer_as_mlflows_client(registry: Any, name: str) -> None:
    reads = registry_reads({**load_config(), "MLFLOW_TRACKING_URI": registry.tracking_uri})
    assert isinstance(reads, SqliteReads)
    for selector in SELECTORS:
        expected = outcome(registry.resolve, name, **selector)
        assert outcome(reads.resolve, name, **selector) == expected, selector
    with pytest.raises(NotFound):
        reads.resolve(name, version=99)
    if name != "no-such-model":
        for version in ("1", "2"):
            assert reads.download_uri(name, version) == registry.download_uri(name, version)


def test_sql_reads_list_the_models_as_mlflows_client(registry: Any) -> None:
    reads = SqliteReads(registry.tracking_uri, 5.0)
    registry.set_alias(ONNX_MODEL, "2", "production", who="test")
    listed = reads.list_models()
    assert [model["name"] for model in listed] == [ONNX_MODEL, SKLEARN_MODEL]
    assert listed == registry.list_models()
    assert all(len(model["versions"]) == 2 for model in listed)


def test_an_embedded_store_not_created_yet_lists_no_models(tmp_path: Path) -> None:
    # As MLflow's client answers (it creates the file); a console on a fresh data folder
    # shows an empty registry, not an error.
    assert SqliteReads(f"sqlite:///{tmp_path / 'mlflow.db'}", 1.0).list_models() == []


def test_sql_reads_see_a_moved_alias_and_fail_with_503_without_a_store(
        registry: Any, tmp_path: Path) -> None:
    reads = SqliteReads(registry.tracking_uri, 5.0)
    registry.set_alias(ONNX_MODEL, "2", "production", who="test")
    moved = reads.resolve(ONNX_MODEL)
    assert moved["version"] == "2" and "production" in moved["aliases"]
    assert moved == registry.resolve(ONNX_MODEL)
    broken = SqliteReads(f"sqlite:///{tmp_path / 'not-a-database.db'}", 1.0)
    (tmp_path / "not-a-database.db").write_text("no tables here")
    with pytest.raises(Unavailable, match="unavailable"):
        broken.resolve(ONNX_MODEL)


def test_local_paths_of_artifact_uris() -> None:
    assert local_path("file:///srv/mlartifacts/m-1/artifacts") == Path(
        "/srv/mlartifacts/m-1/artifacts")
    assert local_path("/srv/a%20b") == Path("/srv/a%20b")
    assert local_path("mlflow-artifacts:/1/models/m-1/artifacts") is None
    assert local_path("s3://bucket/m-1") is None


def test_a_registry_request_imports_neither_mlflow_nor_pandas(
        registry: Any, app_config: dict[str, Any]) -> None:
    """The API answers /classify-registry in a fresh interpreter without loading MLflow's
    client (about 110 MB per worker): with the ONNX model not even pandas is loaded (the
    scikit-learn model needs scikit-learn, which imports pandas itself)."""
    config = {**app_config, "MLFLOW_TRACKING_URI": registry.tracking_uri}
    script = (
        "import json, sys\n"
        "from ai_backends.api.app import create_app\n"
        f"client = create_app(json.loads({json.dumps(json.dumps(config))})).test_client()\n"
        "flower = {'sepal_length': 5.1, 'sepal_width': 3.5, 'petal_length': 1.4,"
        " 'petal_width': 0.2}\n"
        "def loaded():\n"
        "    return sorted(m for m in ('mlflow', 'pandas') if m in sys.modules)\n"
        "def ask(model_format):\n"
        "    url = f'/api/v1/classify-registry?model_format={model_format}'\n"
        "    return [client.post(url, json=flower).status_code, loaded()]\n"
        "listing = [client.get('/api/v1/models').status_code, loaded()]\n"
        "print(json.dumps([listing, ask('onnx'), ask('sklearn')]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT,  # nosec B603
                          capture_output=True, text=True, timeout=120, check=True)
    listing, onnx, sklearn = json.loads(done.stdout.strip().splitlines()[-1])
    assert listing == [200, []]  # GET /api/v1/models too
    assert onnx == [200, []]
    assert sklearn == [200, ["pandas"]]
