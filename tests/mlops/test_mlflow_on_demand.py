"""run.py's MLflow UI on demand: a light listener that runs MLflow's server as its child, on
the same socket, from a client's connection until the UI has been idle a while."""

from __future__ import annotations

import os
import signal

# Starts the UI process the way run.py does.
import subprocess  # nosec B404
import time
from pathlib import Path

import pytest
import requests

from ai_backends.core.config import ROOT, load_config
from ai_backends.core.stack import processes
from ai_backends.mlops.mlflow_server import with_socket
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STARTUP_SECONDS = 120
IDLE_SECONDS = 4  # checked every second (a quarter of it)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
               ) / 1024


def test_uvicorn_takes_the_open_socket_instead_of_host_and_port() -> None:
    argv = ["/py", "-m", "uvicorn", "--log-config", "x.yaml", "--host", "127.0.0.1",
            "--port", "5004", "--workers", "1", "mlflow.server.fastapi_app:app"]
    assert with_socket(argv, 7) == ["/py", "-m", "uvicorn", "--fd", "7", "--log-config",
                                    "x.yaml", "--workers", "1", "mlflow.server.fastapi_app:app"]


def test_on_demand_only_for_the_embedded_store(tmp_path: Path) -> None:
    embedded = load_config({"DATA_DIR": str(tmp_path), "MLFLOW_TRACKING_URI": None})
    (ui,) = [p for p in processes(embedded) if p.name == "mlflow"]
    assert ui.argv[ui.argv.index("--on-demand") + 1] == "600.0"
    (ui,) = [p for p in processes({**embedded, "MLFLOW_UI_ON_DEMAND": False})
             if p.name == "mlflow"]
    assert "--on-demand" not in ui.argv
    served = load_config({"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
                          "MLFLOW_SERVER_BACKEND_STORE": f"sqlite:///{tmp_path / 'm.db'}"})
    (ui,) = [p for p in processes(served) if p.name == "mlflow"]
    assert "--on-demand" not in ui.argv  # the API itself talks to it


def children(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def test_the_ui_starts_on_a_connection_and_stops_when_idle(tmp_path: Path) -> None:
    config = load_config({"DATA_DIR": str(tmp_path), "MLFLOW_UI_PORT": free_port(),
                          "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                          "MLFLOW_UI_IDLE_SECONDS": IDLE_SECONDS})
    (ui,) = [p for p in processes(config) if p.name == "mlflow"]
    url = f"http://127.0.0.1:{config['MLFLOW_UI_PORT']}"
    log = (tmp_path / "mlflow.log").open("w")
    server = subprocess.Popen(ui.argv, cwd=ROOT, env={**os.environ, **ui.env}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # nosec B603
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while "starts on its first connection" not in (tmp_path / "mlflow.log").read_text():
            assert server.poll() is None and time.monotonic() < deadline, "not listening"
            time.sleep(0.1)
        assert server.poll() is None
        assert rss_mb(server.pid) < 40 and not children(server.pid)  # listening only
        assert not (tmp_path / "mlflow.db").exists()
        for _ in range(2):  # started on a client, stopped when idle, started again
            # The first client waits for the start-up instead of being refused.
            with requests.Session() as session:
                assert session.get(f"{url}/health", timeout=STARTUP_SECONDS).status_code == 200
                assert session.get(f"{url}/api/2.0/mlflow/registered-models/search",
                                   timeout=10).status_code == 200
            (child,) = children(server.pid)
            assert "uvicorn" in Path(f"/proc/{child}/cmdline").read_text()
            assert rss_mb(child) > 100 and rss_mb(server.pid) < 40
            deadline = time.monotonic() + 60
            while children(server.pid):  # no connection for IDLE_SECONDS: MLflow stops
                assert time.monotonic() < deadline, "MLflow was not stopped when idle"
                time.sleep(0.2)
            assert server.poll() is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
