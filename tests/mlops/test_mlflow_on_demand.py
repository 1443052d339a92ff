"""run.py's MLflow UI on demand: a light listener until the first connection, then MLflow's
server in the same process, on the same socket."""

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
    assert "--on-demand" in ui.argv
    (ui,) = [p for p in processes({**embedded, "MLFLOW_UI_ON_DEMAND": False})
             if p.name == "mlflow"]
    assert "--on-demand" not in ui.argv
    served = load_config({"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
                          "MLFLOW_SERVER_BACKEND_STORE": f"sqlite:///{tmp_path / 'm.db'}"})
    (ui,) = [p for p in processes(served) if p.name == "mlflow"]
    assert "--on-demand" not in ui.argv  # the API itself talks to it


def test_the_ui_starts_on_its_first_connection_in_the_same_process(tmp_path: Path) -> None:
    config = load_config({"DATA_DIR": str(tmp_path), "MLFLOW_UI_PORT": free_port(),
                          "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    (ui,) = [p for p in processes(config) if p.name == "mlflow"]
    url = f"http://127.0.0.1:{config['MLFLOW_UI_PORT']}"
    log = (tmp_path / "mlflow.log").open("w")
    server = subprocess.Popen(ui.argv, cwd=ROOT, env={**os.environ, **ui.env}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # nosec B603
    try:
        time.sleep(3)
        assert server.poll() is None
        assert rss_mb(server.pid) < 40  # listening only: MLflow is not imported yet
        assert not (tmp_path / "mlflow.db").exists()
        # The first client waits for the start-up instead of being refused.
        assert requests.get(f"{url}/health", timeout=STARTUP_SECONDS).status_code == 200
        assert rss_mb(server.pid) > 100  # the same process now runs MLflow's server
        assert "uvicorn" in Path(f"/proc/{server.pid}/cmdline").read_text()
        assert requests.get(f"{url}/api/2.0/mlflow/registered-models/search",
                            timeout=10).status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
