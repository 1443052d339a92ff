"""The whole stack under mixed load: zero errors, one log row per classification, and a
sidecar that dies and comes back without restarting the API."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ai_backends.classify.predlog import COLUMNS, PredictionLog
from tests.conftest import free_port
from tests.oip.servers import Sidecar, start_grpc_sidecar, start_http_sidecar
from tests.servers import gunicorn_argv, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOAD_SECONDS = 6.0
CLIENTS = 4
FLOWERS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5},
]
QUESTIONS = ["What is machine learning?", "Name a primary colour."]
CLASSIFY_PATHS = ("/api/v1/classify", "/api/v1/classify-http", "/api/v1/classify-grpc")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_dir: Any,
          redis_url: str) -> Iterator[dict[str, Any]]:
    """API (gunicorn, 2 workers) with both sidecars, the embedded LLM and a real Redis."""
    http_sidecar = start_http_sidecar(model_dir)
    grpc_sidecar = start_grpc_sidecar(model_dir, processes=1)
    port = free_port()
    data_dir = tmp_path_factory.mktemp("load")
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(data_dir), "REDIS_URL": redis_url,
           "REDIS_KEY_PREFIX": f"load-{port}:", "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_PER_MINUTE": "0", "LLM_BACKEND": "llamacpp",
           "HTTP_SIDECAR_URL": http_sidecar.address, "GRPC_SIDECAR_TARGET": grpc_sidecar.address}
    state: dict[str, Any] = {"url": f"http://127.0.0.1:{port}", "data_dir": data_dir,
                             "model_dir": model_dir, "grpc": grpc_sidecar}
    try:
        with running(gunicorn_argv(port), env, f"{state['url']}/health"):
            yield state
    finally:
        http_sidecar.stop()
        state["grpc"].stop()


def _chat_semantic(session: requests.Session, url: str, prompt: str) -> requests.Response:
    return session.post(f"{url}/api/v1/chat-semantic", timeout=60,
                        json={"prompt": prompt, "max_tokens": 4, "temperature": 0})


def test_mixed_load_has_no_errors_and_logs_every_classification(stack: dict[str, Any]) -> None:
    url = stack["url"]
    warm = requests.Session()
    for question in QUESTIONS:  # the first answer of each is generated; the rest are cached
        assert _chat_semantic(warm, url, question).status_code == 200
    answers: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def client(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while time.monotonic() < deadline:
            path = rng.choice([*CLASSIFY_PATHS, "/api/v1/chat-semantic"])
            if path == "/api/v1/chat-semantic":
                response = _chat_semantic(session, url, rng.choice(QUESTIONS))
            else:
                response = session.post(f"{url}{path}", json=rng.choice(FLOWERS), timeout=10)
            with lock:
                answers.append((path, response.status_code, response.headers["X-Request-ID"]))

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    by_path = Counter(path for path, _, _ in answers)
    assert set(by_path) == {*CLASSIFY_PATHS, "/api/v1/chat-semantic"}, by_path
    assert Counter(status for _, status, _ in answers) == {200: len(answers)}
    rows = PredictionLog(stack["data_dir"] / "predictions.csv").read()
    classified = sorted(rid for path, _, rid in answers if path in CLASSIFY_PATHS)
    assert sorted(row["request_id"] for row in rows) == classified  # one row each, none lost
    assert all(len(row) == len(COLUMNS) and None not in row.values() for row in rows)
    stats = requests.get(f"{url}/api/v1/cache/stats", timeout=5).json()
    chats = by_path["/api/v1/chat-semantic"] + len(QUESTIONS)
    assert stats["requests"] == chats  # every worker's requests counted once
    assert stats["hit_rate"] == pytest.approx((chats - len(QUESTIONS)) / chats, abs=1e-4)


def test_a_killed_sidecar_gives_503_then_recovers(stack: dict[str, Any]) -> None:
    url = stack["url"]
    flower = FLOWERS[0]
    target: Sidecar = stack["grpc"]
    port = int(target.address.rsplit(":", 1)[1])
    target.process.kill()
    target.process.wait()
    down = requests.post(f"{url}/api/v1/classify-grpc", json=flower, timeout=10)
    assert down.status_code == 503 and down.headers["Retry-After"]
    assert down.headers["Content-Type"] == "application/problem+json"
    assert requests.post(f"{url}/api/v1/classify", json=flower, timeout=10).status_code == 200
    stack["grpc"] = start_grpc_sidecar(stack["model_dir"], processes=1, port=port)
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline and status != 200:  # the channel reconnects by itself
        status = requests.post(f"{url}/api/v1/classify-grpc", json=flower, timeout=10).status_code
        time.sleep(0.2)
    assert status == 200
