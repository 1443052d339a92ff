"""deploy/k8s: each overlay renders with kustomize and every object validates offline.

Core kinds go through kubernetes-validate (strict: unknown fields fail); the KServe
InferenceService through the schema derived from KServe's SDK models
(deploy/schemas/generate_kserve_schema.py); the Prometheus Operator objects through promtool
(test_prometheus.py) and a structural check here.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess  # nosec B404 - kubectl kustomize, a validator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ai_backends.classify.model import MODEL_NAME
from ai_backends.core.config import Settings
from ai_backends.oip import dataplane
from tests.deploy.conftest import DEPLOY, find_tool, run_tool

pytestmark = pytest.mark.unit
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "production")
CUSTOM_KINDS = {"InferenceService", "PrometheusRule", "ServiceMonitor"}
KSERVE_SCHEMA = DEPLOY / "schemas" / "kserve-inferenceservice-v1beta1.json"
# Settings that the scale-out and tenancy branches add (issue 15); once merged they are in
# Settings and this set can go.
# Read by libraries or by the manifests themselves, not by Settings.
OTHER_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR", "MLFLOW_ARTIFACTS_DESTINATION",
                   "MLFLOW_BACKEND_STORE_URI"}


@functools.cache
def render(overlay: str) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize`` renders for one overlay (tests copy before changing)."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed (it renders the kustomize overlays offline)")
    done = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)],  # nosec B603
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {overlay} failed:\n{done.stderr}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of that kind whose name starts with ``name`` (generated names get a hash)."""
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind} {name}: {[o['metadata']['name'] for o in found]}"
    return found[0]


def validate_core(objects: list[dict[str, Any]], folder: Path) -> None:
    """kubernetes-validate --strict on every non-custom object; fail with its message."""
    tool = find_tool("kubernetes-validate", "pip install kubernetes-validate")
    path = folder / "objects.yaml"
    path.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] not in CUSTOM_KINDS]))
    output = run_tool([tool, "--strict", "--quiet", str(path)])
    assert "Couldn't find schema" not in output, output


def test_every_core_object_is_valid_kubernetes(objects: list[dict[str, Any]],
                                               tmp_path: Path) -> None:
    validate_core(objects, tmp_path)


def test_the_validator_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = copy.deepcopy(one(render("production"), "Deployment", "ai-backends-api"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(pytest.fail.Exception, match="readinessprobe"):
        validate_core([broken], tmp_path)


def test_every_kind_has_a_validator(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "core"
        assert obj["kind"] in CUSTOM_KINDS or "." not in group or group.endswith("k8s.io"), obj


def test_the_api_is_probed_configured_scaled_and_protected(objects: list[dict[str, Any]]) -> None:
    deployment = one(objects, "Deployment", "ai-backends-api")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = one(objects, "ConfigMap", "ai-backends-config")
    assert container["envFrom"][0]["configMapRef"]["name"] == config["metadata"]["name"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
               if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"API_KEYS", "REDIS_URL", "PREDICTION_STORE"} <= set(secrets)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    labels = pod["metadata"]["labels"]
    hpa = one(objects, "HorizontalPodAutoscaler", "ai-backends-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    for kind in ("PodDisruptionBudget", "Service"):
        obj = one(objects, kind, "ai-backends-api")
        selector = obj["spec"]["selector"].get("matchLabels", obj["spec"]["selector"])
        assert selector.items() <= labels.items(), (kind, selector, labels)


def test_mlflow_runs_on_postgresql_from_the_secret(objects: list[dict[str, Any]]) -> None:
    container = one(objects, "Deployment", "ai-backends-mlflow")["spec"]["template"]["spec"][
        "containers"][0]
    assert "--backend-store-uri=$(MLFLOW_BACKEND_STORE_URI)" in container["args"]
    store = [e for e in container["env"] if e["name"] == "MLFLOW_BACKEND_STORE_URI"][0]
    assert "secretKeyRef" in store["valueFrom"]


def test_every_variable_is_a_setting_the_service_reads(objects: list[dict[str, Any]]) -> None:
    known = set(Settings.model_fields) | OTHER_VARIABLES
    names = set(one(objects, "ConfigMap", "ai-backends-config")["data"])
    for obj in objects:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            if "ai-backends" in container["image"]:  # not Redis' or PostgreSQL's own
                names |= {e["name"] for e in container.get("env", [])}
    assert names - known == set()


def test_dev_needs_no_operator(objects: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in objects}
    namespace = one(objects, "Namespace", "ai-backends")["metadata"]["name"]
    if namespace.endswith("-dev"):
        assert not kinds & CUSTOM_KINDS
        assert one(objects, "Secret", "ai-backends-secrets")
    else:
        assert "Secret" not in kinds, "production secrets are provided, never committed"
        assert CUSTOM_KINDS <= kinds


# --- KServe ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kserve_schema() -> dict[str, Any]:
    return json.loads(KSERVE_SCHEMA.read_text())


def isvcs() -> list[dict[str, Any]]:
    return [o for o in render("production") if o["kind"] == "InferenceService"]


def test_inference_services_match_kserve_schema(kserve_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(kserve_schema)
    services = isvcs()
    assert len(services) == 2
    for service in services:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(service)]
        assert not errors, "\n".join(errors)


def test_the_kserve_schema_rejects_a_misspelt_field(kserve_schema: dict[str, Any]) -> None:
    service = copy.deepcopy(isvcs()[0])
    service["spec"]["predictor"]["model"]["protocolversion"] = "v2"
    with pytest.raises(jsonschema.ValidationError, match="protocolversion"):
        jsonschema.validate(service, kserve_schema, cls=jsonschema.Draft7Validator)


def test_the_api_calls_kserve_over_the_open_inference_protocol() -> None:
    objects = render("production")
    config = one(objects, "ConfigMap", "ai-backends-config")["data"]
    by_protocol = {s["spec"]["predictor"]["model"]["protocolVersion"]: s for s in isvcs()}
    assert set(by_protocol) == {"v2", "grpc-v2"}
    rest, grpc = by_protocol["v2"], by_protocol["grpc-v2"]
    assert config["HTTP_SIDECAR_URL"] == f"http://{rest['metadata']['name']}-predictor"
    assert config["GRPC_SIDECAR_TARGET"].startswith(f"{grpc['metadata']['name']}-predictor:")
    for service in (rest, grpc):
        model = service["spec"]["predictor"]["model"]
        assert model["modelFormat"]["name"] == "onnx" and model["storageUri"]


def test_the_triton_model_config_matches_the_sidecar_tensors() -> None:
    config = (K8S / "model-repository" / MODEL_NAME / "config.pbtxt").read_text()
    assert f'name: "{MODEL_NAME}"' in config
    for name in (dataplane.INPUT_NAME, dataplane.LABEL_OUTPUT, dataplane.PROBABILITIES_OUTPUT):
        assert f'name: "{name}"' in config
