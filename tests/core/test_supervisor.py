"""The supervisor behind run.py: restarts with back-off, never stops for an optional part,
gives up only on an API that cannot start; and gunicorn alone leaves no temp folder."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from ai_backends.core import stack
from ai_backends.core.stack import Process, Supervisor
from tests.conftest import free_port
from tests.servers import gunicorn_argv, running

CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]
SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def _supervise(supervisor: Supervisor, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            result = supervisor.check()
            if result is not None:
                return result
            time.sleep(0.02)
        return None
    finally:
        supervisor.stop()


@pytest.mark.integration
def test_a_crashing_optional_part_is_restarted_with_growing_back_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack, "BACKOFF_FIRST_SECONDS", 0.05)
    supervisor = Supervisor([Process("api", SLEEP, required=True), Process("sidecar", CRASH)],
                            dict(os.environ), tmp_path)
    supervisor.start_all()
    assert _supervise(supervisor, 2.0) is None  # the stack kept running
    restarts = json.loads((tmp_path / "restarts.json").read_text())
    assert restarts["api"] == 0
    assert 4 <= restarts["sidecar"] <= 7  # 0.05 + 0.1 + 0.2 + 0.4 + 0.8 s: the back-off grew
    out = capsys.readouterr().out
    assert "sidecar (pid" in out and "exited with 3" in out and "restarting in 0.4s" in out


@pytest.mark.integration
def test_an_api_that_cannot_start_ends_the_stack(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "BACKOFF_FIRST_SECONDS", 0.01)
    monkeypatch.setattr(stack, "BACKOFF_MAX_SECONDS", 0.02)
    supervisor = Supervisor([Process("api", CRASH, required=True)], dict(os.environ), tmp_path)
    supervisor.start_all()
    assert _supervise(supervisor, 10.0) == 3


@pytest.mark.integration
def test_gunicorn_alone_removes_its_metrics_folder(tmp_path: Path, model_dir: Path,
                                                   redis_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(tmp_path), "REDIS_URL": redis_url,
           "TMPDIR": str(temp), "LOG_LEVEL": "WARNING"}
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # gunicorn makes its own
    with running(gunicorn_argv(port, workers=1), env, f"http://127.0.0.1:{port}/health"):
        assert [p.name for p in temp.glob("ai-backends-metrics-*")]  # made at start
    assert not list(temp.glob("ai-backends-metrics-*"))
