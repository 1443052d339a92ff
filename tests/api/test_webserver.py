"""The API under either server run.py can start (WEB_SERVER), as a client sees it: each
promise of the API's gunicorn worker (problem+json for a request line over the limit, a 503
record ending open streams on SIGTERM) is checked under both."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from ai_backends.core.config import load_config
from ai_backends.core.webserver import api_command
from tests.conftest import free_port
from tests.servers import running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _serve(app_config: dict[str, Any], **settings: Any) -> tuple[list[str], dict[str, str], str]:
    """The production command and environment for this test's app, on a free port."""
    port = free_port()
    config = load_config({**app_config, "PORT": port, **settings})
    env = {key: str(value) for key, value in {**app_config, **settings}.items() if key.isupper()}
    env["PORT"] = str(port)
    metrics = Path(app_config["DATA_DIR"]) / "prometheus"  # as run.py gives its API
    metrics.mkdir(exist_ok=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    return api_command(config, "ai_backends.api.app:create_app()"), env, f"http://127.0.0.1:{port}"


def test_granian_serves_every_worker_counts_in_metrics_and_stops_cleanly(
        app_config: dict[str, Any]) -> None:
    argv, env, base = _serve(app_config, WEB_SERVER="granian", WEB_WORKERS=2, WEB_THREADS=2)
    assert "ai_backends.core.granian_main" in argv
    # The command alone, as a platform runs it: it makes its own folder for the samples.
    del env["PROMETHEUS_MULTIPROC_DIR"]
    with running(argv, env, f"{base}/health") as server:
        session = requests.Session()
        statuses = [session.post(f"{base}/api/v1/classify", json=SETOSA, timeout=10).status_code
                    for _ in range(40)]
        # New connections spread over both workers; /metrics still sums all of them.
        for _ in range(20):
            requests.post(f"{base}/api/v1/classify", json=SETOSA, timeout=10)
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        workers = [child.pid for child in psutil.Process(server.pid).children()]
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert statuses == [200] * 40 and len(workers) == 2
    counted = [line for line in metrics.splitlines() if line.startswith("http_requests_total{")
               and 'endpoint="/api/v1/classify"' in line and 'status="200"' in line]
    assert len(counted) == 1 and float(counted[0].split()[-1]) == 60
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_generation_streams_and_never_takes_the_last_thread(app_config: dict[str, Any]) -> None:
    # One worker, two threads: one generation slot, one thread that stays for classification.
    argv, env, base = _serve(app_config, WEB_SERVER="granian", WEB_WORKERS=1, WEB_THREADS=2,
                             RATE_LIMIT_PER_MINUTE=0)
    # A long answer, so the stream is still generating when the second request arrives.
    body = {"prompt": "Describe how rain forms, in several long sentences.", "max_tokens": 256,
            "temperature": 0, "stream": True}
    with running(argv, env, f"{base}/health"):
        stream = requests.post(f"{base}/api/v1/generate", json=body, stream=True, timeout=60)
        lines = stream.iter_lines()
        first = json.loads(next(lines))  # the first token arrives before the answer ends
        assert "token" in first
        busy = requests.post(f"{base}/api/v1/generate", json={**body, "stream": False},
                             timeout=10)
        classified = requests.post(f"{base}/api/v1/classify", json=SETOSA, timeout=10)
        rest = [json.loads(line) for line in lines]
        assert rest[-1].get("done") is True
        stream.close()
        # The slot is free again once the stream has ended.
        again = requests.post(f"{base}/api/v1/generate", timeout=60,
                              json={**body, "stream": False, "max_tokens": 4})
    assert busy.status_code == 503 and busy.headers["Retry-After"]
    assert "generation slots" in busy.json()["detail"]
    assert classified.status_code == 200
    assert again.status_code == 200


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_sigterm_ends_an_open_stream_with_a_503_record(app_config: dict[str, Any],
                                                        server: str) -> None:
    argv, env, base = _serve(app_config, WEB_SERVER=server, WEB_WORKERS=1, WEB_THREADS=2)
    body = {"prompt": "Tell a very long story about a dragon who learns to sail.",
            "max_tokens": 1024, "temperature": 0.9, "stream": True}
    with running(argv, env, f"{base}/health") as process:
        stream = requests.post(f"{base}/api/v1/generate", json=body, stream=True, timeout=60)
        lines = stream.iter_lines()
        first = json.loads(next(lines))  # generating
        process.send_signal(signal.SIGTERM)
        rest = [json.loads(line) for line in lines if line]
        assert process.wait(timeout=30) == 0
    assert "token" in first
    last = rest[-1]  # the stream was still generating: it ends with a record, not a cut
    assert last["error"]["status"] == 503, rest[-3:]
    assert "shutting down" in last["error"]["detail"]


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_a_10_kb_request_line_gets_a_problem(app_config: dict[str, Any], server: str) -> None:
    argv, env, base = _serve(app_config, WEB_SERVER=server, WEB_WORKERS=1, WEB_THREADS=2)
    with running(argv, env, f"{base}/health"):
        connection = http.client.HTTPConnection(base.removeprefix("http://").split(":")[0],
                                                int(base.rsplit(":", 1)[1]), timeout=30)
        connection.request("GET", "/health?padding=" + "a" * 10_000)
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        # The connection the server closed does not stop the next request.
        health = requests.get(f"{base}/health", timeout=10).status_code
    assert response.status == 414, answer
    assert response.getheader("Content-Type", "").startswith("application/problem+json")
    assert answer["title"] == "URI Too Long" and health == 200


def test_gunicorn_stays_available(app_config: dict[str, Any]) -> None:
    argv, env, base = _serve(app_config, WEB_SERVER="gunicorn", WEB_WORKERS=1, WEB_THREADS=2)
    assert "gunicorn" in argv
    with running(argv, env, f"{base}/health") as server, requests.Session() as session:
        answer = session.post(f"{base}/api/v1/classify", json=SETOSA, timeout=10)
        # The session's connection stays open (keep-alive) and idle while gunicorn stops.
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        stopped_in = time.monotonic() - stopping
    assert answer.status_code == 200 and answer.json()["predicted_class"] == "setosa"
    assert stopped_in < 10, stopped_in  # not held for the whole graceful timeout (15 s)


def test_an_unknown_server_is_refused() -> None:
    with pytest.raises(ValueError, match="WEB_SERVER"):
        api_command(load_config({"WEB_SERVER": "waitress"}))


def test_classification_is_answered_while_generations_run(app_config: dict[str, Any]) -> None:
    argv, env, base = _serve(app_config, WEB_SERVER="granian", WEB_WORKERS=1, WEB_THREADS=3,
                             RATE_LIMIT_PER_MINUTE=0)
    body = {"prompt": "Write a long story about a lighthouse.", "max_tokens": 64,
            "temperature": 0}
    finished: list[tuple[str, int]] = []  # in the order the answers came back

    def generate() -> None:
        status = requests.post(f"{base}/api/v1/generate", json=body, timeout=120).status_code
        finished.append(("generate", status))

    with running(argv, env, f"{base}/health"):
        threads = [threading.Thread(target=generate) for _ in range(4)]
        for thread in threads:
            thread.start()
        for _ in range(5):
            status = requests.post(f"{base}/api/v1/classify", json=SETOSA, timeout=60).status_code
            finished.append(("classify", status))
        for thread in threads:
            thread.join()
    generated = [status for kind, status in finished if kind == "generate"]
    first_generation = next(i for i, (kind, status) in enumerate(finished)
                            if kind == "generate" and status == 200)
    # Every classification came back before the first generation was done: none of them
    # queued behind the model, although four generations were asked for at once.
    assert [status for kind, status in finished[:first_generation] if kind == "classify"] == [
        200] * 5
    assert generated.count(200) >= 2 and set(generated) <= {200, 503}
