"""deploy/compose.yaml: valid Compose, every part of the multi-replica host present and wired."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, find_tool, run_tool

pytestmark = pytest.mark.unit
COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_valid_against_the_compose_specification() -> None:
    checker = find_tool("check-jsonschema", "pip install check-jsonschema")
    run_tool([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])


def test_every_part_of_the_host_is_a_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "lb", "http-sidecar", "grpc-sidecar", "redis", "postgres", "mlflow"):
        assert name in services, name
    assert services["ollama"]["profiles"] == ["ollama"]
    assert "profiles" not in services["api"]


def test_api_replicas_use_the_shared_stores_and_the_sidecars(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    env = api["environment"]
    assert str(api["deploy"]["replicas"]).startswith("${API_REPLICAS:-")
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["PREDICTION_STORE"].startswith("postgresql://")
    assert "@postgres:5432/" in env["PREDICTION_STORE"]
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5004"
    assert env["HTTP_SIDECAR_URL"] == "http://http-sidecar:5002"
    assert env["GRPC_SIDECAR_TARGET"] == "grpc-sidecar:50051"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # replicas cannot share one published host port: the load balancer publishes it
    assert "ports" not in api


def test_sidecars_listen_on_the_network_not_on_loopback(compose: dict[str, Any]) -> None:
    for name in ("http-sidecar", "grpc-sidecar"):
        env = compose["services"][name]["environment"]
        assert env["HTTP_SIDECAR_HOST"] == env["GRPC_SIDECAR_HOST"] == "0.0.0.0"


def test_mlflow_runs_on_postgresql(compose: dict[str, Any]) -> None:
    command = compose["services"]["mlflow"]["command"]
    store = [c for c in command if c.startswith("--backend-store-uri=")]
    assert store and store[0].split("=", 1)[1].startswith("postgresql://"), command


def test_references_resolve(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose.get("volumes", {})
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            if isinstance(mount, str):
                source = mount.split(":", 1)[0]
                if source.startswith("."):
                    assert (COMPOSE.parent / source).exists(), f"{name}: missing {source}"
                else:
                    assert source in volumes, f"{name}: undeclared volume {source}"
