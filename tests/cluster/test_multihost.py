"""Two API replicas on separate hosts against shared stores, with real traffic.

Hosts are Linux network namespaces (see ``hosts.py``): a store host (a 3-master Redis
Cluster, a throwaway PostgreSQL made with initdb/pg_ctl, the MLflow server on it), an
inference host (both sidecars), two API hosts (each the server command ``run.py``
starts, with its own DATA_DIR) and the client (this test's threads, moved into the client
namespace). Runs as root, as CI does; skipped with the reason when namespaces cannot be made.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from ai_backends.classify.training import REFERENCE_FILE, train_model
from ai_backends.core.config import ROOT, load_config
from ai_backends.core.stack import mlflow_server, processes
from tests.cluster.hosts import BACK, Host, Network, namespaces_unavailable
from tests.metrics import sample
from tests.redis_cluster import start_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.integration]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
STORE, INFERENCE = f"{BACK}.10", f"{BACK}.20"
API_PORT = 5001
KEYS = {"chat": "key-chat", "semantic": "key-semantic", "limit": "key-limit",
        "ops": "key-ops"}
RATE_LIMIT = 4
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SHORT = {"max_tokens": 2, "temperature": 0.0}
START_SECONDS = 150


@dataclass
class Fleet:
    """The running hosts and how to reach them."""

    hosts: dict[str, Host]
    apis: dict[str, str]  # name -> base URL on the front network
    store_url: str  # the prediction store (PostgreSQL on the store host)
    client_env: dict[str, str]  # environment of scripts run on the client host
    folder: Path

    def request(self, method: str, api: str, path: str, key: str = "ops",
                timeout: float = 60, **kwargs: Any) -> requests.Response:
        """A request from the client host to API host ``api``."""
        headers = {"X-API-Key": KEYS[key], **kwargs.pop("headers", {})}
        return self.hosts["client"].call(
            lambda: requests.request(method, f"{self.apis[api]}{path}", headers=headers,
                                     timeout=timeout, **kwargs))

    def store_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the prediction store, asked from the client host."""
        def query() -> list[tuple[Any, ...]]:
            with psycopg.connect(self.store_url, connect_timeout=5) as connection:
                return connection.execute(sql, params).fetchall()
        return self.hosts["client"].call(query)


def _wait(what: str, check: Callable[[], bool], seconds: float, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, psycopg.Error, OSError):
            pass
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
                      for log in sorted(logs.glob("*.log")))
    pytest.fail(f"{what} not within {seconds:g}s\n{tails}")


def _start_postgres(store: Host, folder: Path) -> str:
    """A throwaway PostgreSQL cluster on the store host (run as the postgres user)."""
    data = folder / "pgdata"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    os.chmod(folder, 0o755)
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust",  # nosec
                    "-U", "postgres"], check=True, capture_output=True, timeout=120)
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {BACK}.0/24 trust\n")
    store.start([*as_postgres, str(PG_BIN / "postgres"), "-D", str(data), "-p", "5432",
                 "-c", f"listen_addresses={STORE}", "-c", f"unix_socket_directories={data}",
                 "-c", "fsync=off", "-c", "max_connections=100"],
                dict(os.environ), folder / "postgres.log")
    url = f"postgresql://postgres@{STORE}:5432/postgres"

    def ready() -> bool:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as connection:
            for database in ("predictions", "mlflow"):
                connection.execute(f"CREATE DATABASE {database}")
        return True

    _wait("PostgreSQL", lambda: store.call(ready), 60, folder)
    return f"postgresql://postgres@{STORE}:5432"


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """Every host of the test, started; everything removed afterwards, also on failure."""
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    # Missing servers are a failure, not a skip: CI has them (see ENVIRONMENT.md).
    missing = [tool for tool in ("redis-server", "redis-cli", "setpriv") if not shutil.which(tool)]
    assert not missing and (PG_BIN / "initdb").exists(), (
        f"the multi-host test needs {missing or ''} and PostgreSQL 15 in {PG_BIN}")
    folder = Path(tempfile.mkdtemp(prefix="ai-backends-fleet-"))
    network = Network()
    try:
        hosts = network.create({"store": (None, 10), "inference": (None, 20),
                                "api1": (31, 31), "api2": (32, 32), "client": (50, 50)})
        yield _start_fleet(hosts, folder)
    finally:
        try:
            network.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _start_fleet(hosts: dict[str, Host], folder: Path) -> Fleet:
    store = hosts["store"]
    training = train_model(folder / "models", folder / "training")
    assert training.metadata["model_version"]
    pg = _start_postgres(store, folder)
    redis_nodes = start_cluster(folder, host=STORE, ports=[7001, 7002, 7003],
                                prefix=store.prefix)
    store.processes += redis_nodes.processes
    base = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true",
            "MODEL_DIR": str(folder / "models"), "LOG_FORMAT": "text",
            "MLFLOW_TRACKING_URI": f"http://{STORE}:5004", "REGISTRY_REFRESH_SECONDS": "2",
            # Sidecars bound beyond loopback need a key, and the API hosts send it.
            "SIDECAR_API_KEY": "fleet-sidecar-key"}
    server = mlflow_server(load_config({
        "DATA_DIR": str(folder), "MLFLOW_SERVER_BACKEND_STORE":
            f"postgresql+psycopg://postgres@{STORE}:5432/mlflow",
        "MLFLOW_SERVER_ARTIFACTS": str(folder / "mlartifacts"), "MLFLOW_SERVER_HOST": STORE,
        "MLFLOW_UI_PORT": 5004}))
    store.start(server.argv, {**base, **server.env}, folder / "mlflow.log")
    inference_env = {**base, "HTTP_SIDECAR_HOST": INFERENCE, "GRPC_SIDECAR_HOST": INFERENCE,
                     "HTTP_SIDECAR_WORKERS": "1", "GRPC_SIDECAR_PROCESSES": "1"}
    hosts["inference"].start([sys.executable, "http_server.py"], inference_env,
                             folder / "http-sidecar.log", cwd=ROOT)
    hosts["inference"].start([sys.executable, "grpc_server.py"], inference_env,
                             folder / "grpc-sidecar.log", cwd=ROOT)
    apis = {}
    for name in ("api1", "api2"):
        host = hosts[name]
        data = folder / f"data-{name}"
        data.mkdir()
        shutil.copy(folder / "training" / REFERENCE_FILE, data / REFERENCE_FILE)
        env = {**base, "HOST": host.front or "", "PORT": str(API_PORT), "DATA_DIR": str(data),
               "WEB_WORKERS": "2", "WEB_THREADS": "4", "REPLICA_NAME": name,
               "REDIS_URL": f"redis://{STORE}:7001/0", "REDIS_CLUSTER": "true",
               "PREDICTION_STORE": f"{pg}/predictions", "PREDICTION_STORE_WRITE_TIMEOUT": "2",
               "HTTP_SIDECAR_URL": f"http://{INFERENCE}:5002",
               "GRPC_SIDECAR_TARGET": f"{INFERENCE}:50051", "API_KEYS": ",".join(KEYS.values()),
               "RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT), "LLM_BACKEND": "llamacpp",
               "LLM_THREADS": "1", "DRIFT_MIN_SAMPLES": "30"}
        api = processes(load_config({"HOST": env["HOST"], "PORT": API_PORT, "WEB_WORKERS": 2,
                                     "WEB_THREADS": 4}))[0]  # the command run.py starts
        host.start(api.argv, {**env, **api.env}, folder / f"{name}.log", cwd=ROOT)
        apis[name] = f"http://{host.front}:{API_PORT}"
    fleet = Fleet(hosts, apis, f"{pg}/predictions", {**base}, folder)
    for name in apis:
        _wait(f"{name} ready", lambda n=name: fleet.request("GET", n, "/readyz",  # type: ignore[misc]
                                                           timeout=3).status_code == 200,
              START_SECONDS, folder)
    _wait("MLflow server", lambda: fleet.hosts["client"].call(
        lambda: requests.get(f"http://{STORE}:5004/health", timeout=2).ok), START_SECONDS, folder)
    return fleet


def test_a_chat_session_alternating_between_api_hosts_keeps_its_history(fleet: Fleet) -> None:
    session = f"fleet-{uuid.uuid4().hex[:12]}"
    prompts = ["My name is Ada.", "I like tea.", "I live in Oslo.", "What is my name?"]
    for turn, prompt in enumerate(prompts):
        answer = fleet.request("POST", ("api1", "api2")[turn % 2], "/api/v1/chat", key="chat",
                               json={"prompt": prompt, "session_id": session, **SHORT})
        assert answer.status_code == 200, answer.text
        assert answer.json()["conversation_length"] == turn + 1  # exchanges, as documented
    history = fleet.request("GET", "api1", f"/api/v1/chat/{session}", key="chat").json()
    said = [m["content"] for m in history["messages"] if m["role"] == "user"]
    assert said == prompts


def test_an_answer_cached_through_api1_is_a_semantic_hit_through_api2(fleet: Fleet) -> None:
    first = fleet.request("POST", "api1", "/api/v1/chat-semantic", key="semantic",
                          json={"prompt": "What is artificial intelligence?", **SHORT})
    assert first.status_code == 200, first.text
    assert first.json()["cache_info"]["cache_hit"] is False
    second = fleet.request("POST", "api2", "/api/v1/chat-semantic", key="semantic",
                           json={"prompt": "What is AI?", **SHORT})
    assert second.status_code == 200, second.text
    info = second.json()["cache_info"]
    assert (info["cache_hit"], info["cache_type"]) == (True, "semantic"), info
    assert second.json()["response"] == first.json()["response"]


def test_the_rate_limit_of_one_client_holds_across_both_api_hosts(fleet: Fleet) -> None:
    if time.time() % 60 > 50:  # fixed one-minute windows: do not straddle a boundary
        time.sleep(61 - time.time() % 60)
    # An empty body is counted by the limiter, then refused (422) without generating.
    statuses = [fleet.request("POST", ("api1", "api2")[i % 2], "/api/v1/generate",
                              key="limit", json={}).status_code for i in range(RATE_LIMIT + 2)]
    assert statuses == [422] * RATE_LIMIT + [429, 429]


def test_a_drift_report_of_api2_counts_the_classifications_of_api1(fleet: Fleet) -> None:
    samples = [{**SETOSA, "sepal_length": 4.8 + (i % 10) / 10} for i in range(40)]
    batch = fleet.request("POST", "api1", "/api/v1/classify", json={"samples": samples})
    assert batch.status_code == 200, batch.text
    for protocol in ("grpc", "http"):  # sidecar traffic goes to the same store
        assert fleet.request("POST", "api1", f"/api/v1/classify-{protocol}",
                             json=SETOSA).status_code == 200
    [(from_api1,)] = fleet.store_rows("SELECT count(*) FROM predictions WHERE replica = 'api1'")
    assert from_api1 >= 42
    endpoints = {row[0] for row in fleet.store_rows("SELECT DISTINCT endpoint FROM predictions")}
    assert {"classify", "classify-grpc", "classify-http"} <= endpoints
    # Each replica's /metrics counts its own workers' classifications, not the fleet's.
    counted = {api: sample(fleet.request("GET", api, "/metrics").text, "classifications_total",
                           endpoint="classify", predicted_class="setosa") for api in fleet.apis}
    assert counted["api1"] >= 1 and counted["api2"] == 0
    report = fleet.request("GET", "api2", "/api/v1/drift-report?limit=1000")
    assert report.status_code == 200, report.text
    summary = report.json()["data_summary"]
    assert summary["total_production_samples"] == from_api1  # api2 itself classified none
    assert summary["analyzed_samples"] == from_api1


REGISTER_AGAIN = """
from pathlib import Path
from ai_backends.classify.training import train_model
from ai_backends.core.config import load_config
from ai_backends.mlops.registry import ModelRegistry
config = load_config()
trained = train_model(Path(config["MODEL_DIR"]), Path(config["DATA_DIR"]))
ModelRegistry.from_config(config).register_trained(
    trained, Path(config["DATA_DIR"]) / "reference_iris.csv")
"""


def _registry_version(fleet: Fleet, api: str) -> str:
    answer = fleet.request("POST", api, "/api/v1/classify-registry?model_format=onnx",
                           json=SETOSA)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["model_registry_info"]["model_version"])


def test_an_alias_moved_from_the_client_host_is_served_by_both_api_hosts(fleet: Fleet) -> None:
    client = fleet.hosts["client"]
    env = {**fleet.client_env, "MODEL_DIR": str(fleet.folder / "client-models"),
           "DATA_DIR": str(fleet.folder / "client-data")}
    # Version 1 through the documented command (it gets the production alias); training is
    # deterministic, so running it again adds nothing: version 2 is the same model
    # registered once more, as a retraining on new data would add one.
    trained = client.run([sys.executable, "scripts/train_iris_model.py"], env, 240, cwd=ROOT)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    again = client.run([sys.executable, "-c", REGISTER_AGAIN], env, 240, cwd=ROOT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {_registry_version(fleet, api) for api in fleet.apis} == {"1"}
    moved = client.run([sys.executable, "scripts/manage_models.py", "--alias",
                        "iris-classifier-onnx", "2", "production"], env, 120, cwd=ROOT)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    _wait("both API hosts serving version 2",
          lambda: {_registry_version(fleet, api) for api in fleet.apis} == {"2"},
          30, fleet.folder)  # REGISTRY_REFRESH_SECONDS is 2


def test_an_api_host_cut_off_from_the_stores_degrades_then_recovers(fleet: Fleet) -> None:
    api1 = fleet.hosts["api1"]
    api1.link("back", up=False)
    try:
        classify = fleet.request("POST", "api1", "/api/v1/classify", json=SETOSA)
        assert classify.status_code == 503, classify.text  # not logged, so not answered
        assert classify.headers["Content-Type"].startswith("application/problem+json")
        assert "prediction store unreachable" in classify.json()["detail"]
        ready = fleet.request("GET", "api1", "/readyz")
        assert (ready.status_code, ready.json()["failing"]) == (503, ["prediction_store"])
        assert fleet.request("GET", "api1", "/livez").status_code == 200  # not restarted
        stats = fleet.request("GET", "api1", "/api/v1/cache/stats")
        assert stats.status_code == 503  # the documented answer while Redis is away
        assert fleet.request("POST", "api2", "/api/v1/classify", json=SETOSA).status_code == 200
    finally:
        api1.link("back", up=True)
    _wait("api1 classifying again", lambda: fleet.request(
        "POST", "api1", "/api/v1/classify", json=SETOSA, timeout=10).status_code == 200,
        60, fleet.folder)
    _wait("api1 ready and its cache statistics back", lambda: (
        fleet.request("GET", "api1", "/readyz", timeout=10).status_code == 200
        and fleet.request("GET", "api1", "/api/v1/cache/stats", timeout=10).status_code == 200),
        60, fleet.folder)


def test_api1_killed_under_load_loses_no_answered_classification(fleet: Fleet) -> None:
    client = fleet.hosts["client"]
    answered: list[tuple[str, str, float]] = []  # (api, request id, when)
    stop_at = time.monotonic() + 6
    killed_at: list[float] = []

    def load(api: str, worker: int) -> None:
        with requests.Session() as session:
            number = 0
            while time.monotonic() < stop_at:
                number += 1
                request_id = f"load-{api}-{worker}-{number}-{uuid.uuid4().hex[:6]}"
                try:
                    answer = session.post(
                        f"{fleet.apis[api]}/api/v1/classify", timeout=10,
                        json={**SETOSA, "petal_width": 0.1 + (number % 20) / 100},
                        headers={"X-API-Key": KEYS["ops"], "X-Request-ID": request_id})
                except requests.RequestException:
                    time.sleep(0.05)
                    continue
                if answer.status_code == 200:
                    answered.append((api, answer.headers["X-Request-ID"], time.monotonic()))

    pool = client.pool()
    futures = [pool.submit(load, api, worker) for api in fleet.apis for worker in range(2)]
    time.sleep(2)
    api1 = fleet.hosts["api1"].processes[0]
    os.killpg(api1.pid, 9)  # the gunicorn master and its workers, mid-load
    killed_at.append(time.monotonic())
    for future in futures:
        future.result(timeout=60)
    assert api1.wait(10) == -9
    after = [a for a in answered if a[0] == "api2" and a[2] > killed_at[0] + 0.5]
    assert after, "api2 stopped answering when api1 was killed"
    ids = [request_id for _, request_id, _ in answered]
    assert len(ids) > 20
    counts = dict(fleet.store_rows(
        "SELECT request_id, count(*) FROM predictions WHERE request_id = ANY(%s) "
        "GROUP BY request_id", ids))
    missing = [i for i in ids if counts.get(i, 0) == 0]
    doubled = {i: n for i, n in counts.items() if n != 1}
    assert not missing and not doubled, {"missing": missing[:5], "doubled": doubled}
