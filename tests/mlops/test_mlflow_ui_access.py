"""The MLflow UI that run.py starts can change what the API serves (aliases, stages), so with
API keys on it never runs open (issue 14, item 9): no password, no UI; with one, a login.
"""

from __future__ import annotations

import os

# Starts the MLflow server this test talks to.
import subprocess  # nosec B404
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ai_backends.core.config import ROOT, load_config
from ai_backends.core.stack import MLFLOW_UI_ADMIN, processes
from tests.conftest import free_port

pytestmark = pytest.mark.security
STARTUP_SECONDS = 90


def stack_config(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    return load_config({"DATA_DIR": str(tmp_path), "MLFLOW_UI_PORT": free_port(),
                        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                        **settings})


def names(config: dict[str, Any]) -> list[str]:
    return [process.name for process in processes(config)]


def test_with_keys_and_no_password_the_ui_does_not_start(tmp_path: Path) -> None:
    assert "mlflow" in names(stack_config(tmp_path))  # one user, loopback: as before
    assert "mlflow" not in names(stack_config(tmp_path, API_KEYS=["k"]))
    (ui,) = [p for p in processes(stack_config(tmp_path)) if p.name == "mlflow"]
    assert ui.argv[ui.argv.index("--host") + 1] == "127.0.0.1"


@pytest.mark.slow
def test_with_a_password_the_ui_answers_401_without_the_login(tmp_path: Path) -> None:
    config = stack_config(tmp_path, API_KEYS=["k"], MLFLOW_UI_PASSWORD="ui-secret-1234")
    (ui,) = [p for p in processes(config) if p.name == "mlflow"]
    assert "ui-secret-1234" not in " ".join(ui.argv)  # not visible in ps
    url = f"http://127.0.0.1:{config['MLFLOW_UI_PORT']}"
    log = (tmp_path / "mlflow.log").open("w")
    server = subprocess.Popen(ui.argv, cwd=ROOT, env={**os.environ, **ui.env}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # nosec B603
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, (tmp_path / "mlflow.log").read_text()[-2000:]
            try:
                requests.get(f"{url}/health", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "MLflow UI did not start"
                time.sleep(0.5)
        search = f"{url}/api/2.0/mlflow/registered-models/search"
        alias = f"{url}/api/2.0/mlflow/registered-models/alias"
        change = {"name": "iris-classifier", "alias": "production", "version": "1"}
        assert requests.get(search, timeout=10).status_code == 401
        assert requests.post(alias, json=change, timeout=10).status_code == 401
        assert requests.get(search, auth=(MLFLOW_UI_ADMIN, "wrong"), timeout=10
                            ).status_code == 401
        assert requests.get(search, auth=(MLFLOW_UI_ADMIN, "ui-secret-1234"), timeout=10
                            ).status_code == 200
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        log.close()
