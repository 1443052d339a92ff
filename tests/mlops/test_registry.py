"""The MLflow registry: registration, /classify-registry, alias moves, the CLI, failures."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ai_backends.core.errors import Unavailable
from ai_backends.mlops.cli import main as cli
from ai_backends.mlops.registry import ONNX_MODEL, PRODUCTION, SKLEARN_MODEL
from ai_backends.mlops.schemas import RegistryClassification
from tests.conftest import free_port

pytestmark = pytest.mark.integration

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run the model management CLI in-process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        code = cli(list(argv), out, err)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_training_registered_both_models_with_tags_and_production(registry: Any) -> None:
    models = {model["name"]: model for model in registry.list_models()}
    assert set(models) == {SKLEARN_MODEL, ONNX_MODEL}
    for model in models.values():
        assert model["aliases"][PRODUCTION] == "1"
        assert model["description"]
        first = model["versions"][0]
        assert first["accuracy"] == "0.9000" and len(first["data_hash"]) == 12
        assert first["git_commit"]
    lineage = registry.lineage(SKLEARN_MODEL, "1")
    assert lineage["metrics"]["test_accuracy"] == pytest.approx(0.9)
    assert lineage["params"]["n_estimators"] == "100"
    assert "metadata.json" in lineage["artifacts"] and "data" in lineage["artifacts"]
    assert any(path.endswith("model.skops") for path in lineage["model_files"])
    assert not any(path.endswith(".pkl") for path in lineage["model_files"])


def test_classify_registry_in_both_formats(registry_app: Any, registry: Any) -> None:
    client = registry_app.test_client()
    answers = {}
    for model_format in ("onnx", "sklearn"):
        response = client.post(f"/api/v1/classify-registry?model_format={model_format}",
                               json=VIRGINICA)
        assert response.status_code == 200, response.json
        body = RegistryClassification.model_validate(response.json)
        info = body.model_registry_info
        assert info.model_name == f"iris-classifier-{model_format}"
        assert (info.model_version, info.model_alias) == ("1", "production")
        assert info.model_uri == f"models:/iris-classifier-{model_format}@production"
        assert info.mlflow_tracking_uri.startswith("sqlite:///")
        answers[model_format] = body
    assert answers["onnx"].predicted_class == answers["sklearn"].predicted_class == "virginica"
    assert answers["onnx"].probabilities == pytest.approx(answers["sklearn"].probabilities,
                                                          abs=1e-5)
    by_version = client.post("/api/v1/classify-registry?version=2&alias=production",
                             json=SETOSA).json  # a version wins over an alias
    assert by_version["model_registry_info"]["model_version"] == "2"
    assert by_version["model_registry_info"]["model_alias"] is None
    assert by_version["predicted_class"] == "setosa"


def test_alias_move_changes_the_answer_and_is_in_the_history(registry_app: Any,
                                                             registry: Any) -> None:
    client = registry_app.test_client()
    url = "/api/v1/classify-registry?model_format=onnx&alias=production"
    assert client.post(url, json=SETOSA).json["model_registry_info"]["model_version"] == "1"

    code, out, _ = run_cli("--tracking-uri", registry.tracking_uri,
                           "--alias", ONNX_MODEL, "2", "production")
    assert code == 0 and "version 1 -> 2" in out
    assert client.post(url, json=SETOSA).json["model_registry_info"]["model_version"] == "2"

    code, out, _ = run_cli("--tracking-uri", registry.tracking_uri, "--history", ONNX_MODEL,
                           "--json")
    history = json.loads(out)
    assert code == 0
    assert history[0]["from_version"] is None and history[0]["to_version"] == "1"
    assert history[0]["who"].endswith("(training)")
    last = history[-1]
    assert (last["alias"], last["from_version"], last["to_version"]) == ("production", "1", "2")
    assert last["who"] and last["time"]
    code, table, _ = run_cli("--tracking-uri", registry.tracking_uri, "--history", ONNX_MODEL)
    assert "production" in table and "first registered version" in table


def test_resolved_alias_is_reused_within_the_refresh_interval(app_config: dict[str, Any],
                                                              registry: Any) -> None:
    from ai_backends.api.app import create_app

    app = create_app({**app_config, "MLFLOW_TRACKING_URI": registry.tracking_uri,
                      "REGISTRY_REFRESH_SECONDS": 3600})
    client = app.test_client()
    url = "/api/v1/classify-registry?model_format=sklearn"
    assert client.post(url, json=SETOSA).json["model_version"] == "1"
    registry.set_alias(SKLEARN_MODEL, "2", PRODUCTION, who="test")
    assert client.post(url, json=SETOSA).json["model_version"] == "1"
    assert client.post(url.replace("sklearn", "onnx"), json=SETOSA).status_code == 200


@pytest.mark.parametrize(("query", "status"), [
    ("alias=no-such-alias", 404),
    ("version=99", 404),
    ("stage=Archived", 404),
    ("alias=no-such-alias&version=99", 404),
    ("model_format=pickle", 422),
    ("alias=bad%20alias!", 422),
    ("version=0", 422),
])
def test_unknown_or_invalid_selectors(registry_app: Any, query: str, status: int) -> None:
    response = registry_app.test_client().post(f"/api/v1/classify-registry?{query}", json=SETOSA)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.json["detail"]


def test_deprecated_stage_transition_via_cli_and_api(registry_app: Any, registry: Any) -> None:
    code, out, err = run_cli("--tracking-uri", registry.tracking_uri,
                             "--transition", ONNX_MODEL, "2", "Staging")
    assert code == 0 and "deprecated" in err and "staging" in out
    response = registry_app.test_client().post("/api/v1/classify-registry?stage=Staging",
                                               json=SETOSA)
    assert response.status_code == 200
    assert response.headers["Deprecation"].startswith("@")  # RFC 9745 date
    info = response.json["model_registry_info"]
    assert (info["model_version"], info["model_stage"]) == ("2", "Staging")
    assert registry.resolve(ONNX_MODEL, alias="staging")["version"] == "2"


def test_cli_tables_json_and_errors(registry: Any) -> None:
    uri = ("--tracking-uri", registry.tracking_uri)
    code, out, _ = run_cli(*uri, "--list")
    assert code == 0
    assert SKLEARN_MODEL in out and ONNX_MODEL in out and "production" in out
    code, out, _ = run_cli(*uri, "--list", "--json")
    assert {model["name"] for model in json.loads(out)} == {SKLEARN_MODEL, ONNX_MODEL}
    code, out, _ = run_cli(*uri, "--compare", SKLEARN_MODEL)
    assert code == 0 and "test_accuracy" in out and out.count("\n") >= 3
    code, out, _ = run_cli(*uri, "--lineage", ONNX_MODEL, "1")
    assert code == 0 and "data hash" in out and "model.onnx" in out

    for argv, reason in [
        (("--alias", "no-such-model", "1", "x"), "not found"),
        (("--alias", ONNX_MODEL, "99", "x"), "not found"),
        (("--lineage", ONNX_MODEL, "abc"), "positive whole number"),
        (("--remove-alias", ONNX_MODEL, "never-set"), "no alias"),
        (("--transition", ONNX_MODEL, "1", "Live"), "unknown stage"),
    ]:
        code, out, err = run_cli(*uri, *argv)
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 1 and out == "" and len(lines) == 1 and reason in lines[0], (argv, err)

    code, _, _ = run_cli(*uri, "--alias", ONNX_MODEL, "2", "candidate")
    code, out, _ = run_cli(*uri, "--remove-alias", ONNX_MODEL, "candidate")
    assert code == 0 and "2 -> (removed)" in out
    assert run_cli(*uri)[0] == 2  # no command: usage error


def test_cli_subcommands_match_the_flag_forms(registry: Any) -> None:
    uri = ("--tracking-uri", registry.tracking_uri)
    assert run_cli("models", "list", "--json", *uri)[1] == run_cli("--list", "--json", *uri)[1]
    assert run_cli(*uri, "list", "--json")[1] == run_cli("--json", *uri, "--list")[1]
    code, out, _ = run_cli("models", "alias", ONNX_MODEL, "2", "candidate", *uri)
    assert code == 0 and "alias candidate: version (none) -> 2" in out
    code, out, _ = run_cli("models", "history", ONNX_MODEL, *uri)
    assert code == 0 and "candidate" in out
    code, out, _ = run_cli("remove-alias", ONNX_MODEL, "candidate", *uri)
    assert code == 0 and "2 -> (removed)" in out
    code, out, _ = run_cli("models", "lineage", ONNX_MODEL, "1", *uri)
    assert code == 0 and "data hash" in out
    assert run_cli("models", "alias", ONNX_MODEL, *uri)[0] == 2  # missing operands


def test_mlflow_down_is_a_quick_503_and_the_rest_keeps_working(
        app_config: dict[str, Any]) -> None:
    from ai_backends.api.app import create_app

    app = create_app({**app_config,
                      "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"})
    client = app.test_client()
    response = client.post("/api/v1/classify-registry", json=SETOSA)
    assert response.status_code == 503
    assert response.headers["Retry-After"] and "unavailable" in response.json["detail"]
    assert client.post("/api/v1/classify", json=SETOSA).status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json["dependencies"]["mlflow"]["up"] is False
    assert "mlflow" in health.json["degraded"]

    code, _, err = run_cli("--tracking-uri", app.config["MLFLOW_TRACKING_URI"], "--list")
    assert code == 1 and err.startswith("error:") and err.count("\n") == 1


def test_missing_embedded_registry_is_a_503_and_is_not_created(client: Any,
                                                                app: Any) -> None:
    response = client.post("/api/v1/classify-registry", json=SETOSA)
    assert response.status_code == 503 and "train_iris_model.py" in response.json["detail"]
    assert not (Path(app.config["DATA_DIR"]) / "mlflow.db").exists()
    assert client.get("/health").json["dependencies"]["mlflow"]["up"] is False


def test_health_reports_the_embedded_registry(registry_app: Any) -> None:
    entry = registry_app.test_client().get("/health").json["dependencies"]["mlflow"]
    assert entry["up"] is True and entry["implementation"] == "embedded (SQLite)"


def test_bootstrap_sees_whether_the_registry_has_the_models(registry_uri: str,
                                                            tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    from ai_backends.core import bootstrap

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_uri)
    assert bootstrap._embedded_registry_complete() is True
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    assert bootstrap._embedded_registry_complete() is False
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert bootstrap._embedded_registry_complete() is False


def test_stack_starts_the_mlflow_ui_only_for_the_embedded_store() -> None:
    from ai_backends.core.config import load_config
    from ai_backends.core.stack import processes

    embedded = {p.name: p.argv for p in processes(load_config({"MLFLOW_TRACKING_URI": None}))}
    argv = embedded["mlflow"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "5004"
    assert argv[argv.index("--backend-store-uri") + 1].endswith("mlflow.db")
    served = processes(load_config({"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999"}))
    assert "mlflow" not in {p.name for p in served}


@pytest.mark.security
def test_registry_loader_refuses_pickle_and_untrusted_skops_types(tmp_path: Path) -> None:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    from ai_backends.mlops.serving import _load_skops

    with pytest.raises(Unavailable, match="only skops"):
        _load_skops(tmp_path, {"serialization_format": "pickle", "pickled_model": "model.pkl"})
    skops.io.dump(FunctionTransformer(func=os.system), tmp_path / "model.skops")
    with pytest.raises(Unavailable, match="untrusted types"):
        _load_skops(tmp_path, {"serialization_format": "skops", "pickled_model": "model.skops"})


def test_registry_model_loads_and_predicts(registry: Any) -> None:
    from ai_backends.mlops.serving import RegistryModel
    runtime = RegistryModel(ONNX_MODEL, "onnx", "1", registry)
    assert not runtime.ready()
    runtime.load()
    assert runtime.ready() and runtime.version == "1"
    assert runtime.classes == ["setosa", "versicolor", "virginica"]


def test_stack_starts_the_mlflow_server_on_a_shared_backend_store_when_configured() -> None:
    from ai_backends.core.config import load_config
    from ai_backends.core.stack import processes

    config = load_config({
        "MLFLOW_TRACKING_URI": "http://10.0.0.5:5004",
        "MLFLOW_SERVER_BACKEND_STORE": "postgresql+psycopg://mlflow@pg:5432/mlflow",
        "MLFLOW_SERVER_ARTIFACTS": "/shared/mlartifacts", "MLFLOW_SERVER_HOST": "10.0.0.5"})
    argv = {p.name: p.argv for p in processes(config)}["mlflow"]
    assert argv[argv.index("--backend-store-uri") + 1] == (
        "postgresql+psycopg://mlflow@pg:5432/mlflow")
    assert argv[argv.index("--artifacts-destination") + 1] == "/shared/mlartifacts"
    assert argv[argv.index("--host") + 1] == "10.0.0.5"
