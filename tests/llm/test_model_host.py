"""The model host: one process holding the embedded LLM and embeddings for every API worker.

The host runs as the real process run.py starts (``python -m ai_backends.llm.host``); the app
reaches it through its Ollama client, as the API workers of the stack do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404 - starts our own module
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ai_backends.classify.predlog import PredictionLog
from ai_backends.classify.training import REFERENCE_FILE
from ai_backends.core.config import load_config
from ai_backends.core.stack import processes
from tests.conftest import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CONTEXT_TOKENS = 256  # small, so that a long prompt overflows it


class Host:
    """A model host process on a fixed port that a test can kill and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MODEL_HOST_PORT": str(self.port),
               "LLM_CONTEXT_TOKENS": str(CONTEXT_TOKENS), "PYTHONPATH": str(ROOT),
               "DATA_DIR": str(self.data_dir)}
        env.pop("MODEL_HOST_URL", None)
        self.process = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "ai_backends.llm.host"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.url}/api/version", timeout=1)
                return
            except requests.RequestException:
                assert self.process.poll() is None, "the model host exited at start"
                assert time.monotonic() < deadline, "the model host did not answer"
                time.sleep(0.1)

    def crash(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)  # as a segfault in llama.cpp would
        self.process.wait()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, trained: tuple[Any, Path]) -> Iterator[Host]:
    """One model host for the module's tests, with the training reference in its data."""
    data_dir = tmp_path_factory.mktemp("host-data")
    (data_dir / REFERENCE_FILE).write_bytes((trained[1] / REFERENCE_FILE).read_bytes())
    running = Host(data_dir)
    running.start()
    yield running
    if running.process is not None and running.process.poll() is None:
        running.process.terminate()
        running.process.wait(10)


@pytest.fixture
def host_client(app_config: dict[str, Any], host: Host) -> Any:
    """An API whose LLM and embeddings are the host's, as an API worker of run.py."""
    from ai_backends.api.app import create_app

    app = create_app({**app_config, "LLM_BACKEND": "llamacpp", "MODEL_HOST_URL": host.url})
    return app.test_client()


def test_generation_streams_through_the_host_and_health_says_where(host_client: Any,
                                                                   host: Host) -> None:
    body = {"prompt": "Name a colour.", "max_tokens": 8, "temperature": 0.0, "seed": 1}
    answer = host_client.post("/api/v1/generate", json=body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["backend"] == "llamacpp"
    assert answer.get_json()["model"] == "SmolLM2-135M-Instruct"
    assert 1 <= answer.get_json()["completion_tokens"] <= 8

    streamed = host_client.post("/api/v1/generate", json={**body, "stream": True})
    lines = [json.loads(line) for line in streamed.get_data(as_text=True).splitlines()]
    assert len(lines) >= 2 and lines[-1]["done"] is True
    # Same seed, same model: the stream carries the same answer as the whole response.
    assert lines[-1]["response"] == answer.get_json()["response"]

    health = host_client.get("/health").get_json()["dependencies"]
    assert health["llm"]["up"] and health["llm"]["implementation"] == \
        "embedded (llama.cpp, model host)"
    assert host.url in health["llm"]["detail"]
    assert health["embeddings"]["up"] and host.url in health["embeddings"]["detail"]


def test_the_semantic_cache_uses_the_hosts_embeddings(host_client: Any) -> None:
    first = host_client.post("/api/v1/chat-semantic",
                             json={"prompt": "What is artificial intelligence?", "max_tokens": 4})
    again = host_client.post("/api/v1/chat-semantic",
                             json={"prompt": "Can you explain what artificial intelligence is?",
                                   "max_tokens": 4})
    assert first.status_code == again.status_code == 200
    info = again.get_json()["cache_info"]
    assert info["cache_hit"] and info["cache_type"] == "semantic"
    assert info["matched_prompt"] == "What is artificial intelligence?"


def test_embeddings_through_the_host_equal_the_in_process_model(host: Host,
                                                                app_config: dict[str, Any]) -> None:
    from ai_backends.cache.embeddings import Embedder, RemoteEmbedder

    texts = ["What is AI?", "How do I bake bread?"]
    folder = load_config()["EMBEDDING_MODEL_DIR"]
    remote = RemoteEmbedder(host.url, folder).embed(texts)
    local = Embedder(folder).embed(texts)
    assert remote.shape == (2, 384)
    assert abs(remote - local).max() < 1e-6


def test_a_prompt_too_long_for_the_context_is_a_client_error(host_client: Any) -> None:
    prompt = "Tell me about lighthouses and storms at sea. " * 40  # far above 256 tokens
    response = host_client.post("/api/v1/generate", json={"prompt": prompt, "max_tokens": 4})
    assert response.status_code == 422  # as from the in-process model, not a 503
    assert "context" in response.get_json()["detail"]


def test_drift_reports_are_computed_by_the_host(host: Host) -> None:
    from ai_backends.mlops.drift import DriftService

    log = PredictionLog(host.data_dir / "predictions.csv")
    shifted = [("2026-01-01T00:00:00+00:00", f"r{i}", "test", f"{6.5 + (i % 5) / 10:.2f}",
                "3.0", f"{1.3 + (i % 3) / 10:.2f}", "0.2", "setosa", "1.0", "v1", "0.1", 0)
               for i in range(40)]
    log.append(shifted)
    service = DriftService(log, host.data_dir, min_samples=30, host_url=host.url)
    report = service.report(40)
    scores = report["drift_analysis"]["feature_drift_scores"]
    assert scores["sepal_length"]["drift_detected"]  # 6.5-6.9 cm on every flower
    assert report["data_summary"]["analyzed_samples"] == 40
    assert service.html_path.stat().st_size > 100_000  # the host wrote the HTML page


def test_a_host_crash_gives_503_with_the_reason_and_service_resumes_on_restart(
        host_client: Any, host: Host) -> None:
    host.crash()
    down = host_client.post("/api/v1/generate", json={"prompt": "Say hi.", "max_tokens": 4})
    assert down.status_code == 503
    assert "model host" in down.get_json()["detail"]
    assert down.headers.get("Retry-After")
    health = host_client.get("/health").get_json()["dependencies"]["llm"]
    assert not health["up"] and "unreachable" in health["detail"]
    # Classification does not depend on the host.
    flower = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    assert host_client.post("/api/v1/classify", json=flower).status_code == 200

    host.start()  # what the supervisor does after its back-off
    again = host_client.post("/api/v1/generate", json={"prompt": "Say hi.", "max_tokens": 4})
    assert again.status_code == 200


def test_run_py_starts_the_host_only_when_the_embedded_model_is_used() -> None:
    def names(**settings: Any) -> list[str]:
        return [p.name for p in processes(load_config({"MODEL_HOST_URL": "", **settings}))]

    assert "model-host" in names(LLM_BACKEND="llamacpp")
    assert "model-host" in names(LLM_BACKEND="auto", OLLAMA_BASE_URL=None)
    assert "model-host" not in names(LLM_BACKEND="ollama",
                                     OLLAMA_BASE_URL="http://127.0.0.1:11434")
