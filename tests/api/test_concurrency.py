"""Several worker processes under gunicorn, several client processes: no lost or torn rows."""

from __future__ import annotations

import csv
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from ai_backends.classify.predlog import COLUMNS
from tests.conftest import free_port
from tests.servers import gunicorn_argv, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 4
REQUESTS_PER_CLIENT = 75


def _client(base_url: str, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    session = requests.Session()
    answers = []
    for _ in range(REQUESTS_PER_CLIENT):
        # A small value range, so that some requests hit the cache and some miss.
        sample = {name: rng.choice([1.0, 2.0, 3.0]) for name in
                  ("sepal_length", "sepal_width", "petal_length", "petal_width")}
        response = session.post(f"{base_url}/api/v1/classify", json=sample, timeout=10)
        answers.append((response.status_code, response.headers["X-Request-ID"]))
    return answers


def test_concurrent_requests_leave_exactly_one_row_each(app_config: dict[str, Any]) -> None:
    port = free_port()
    env = {key: str(value) for key, value in app_config.items() if key.isupper()}
    with running(gunicorn_argv(port, workers=3), env, f"http://127.0.0.1:{port}/health"):
        with ProcessPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(_client, [f"http://127.0.0.1:{port}"] * CLIENTS,
                                    range(CLIENTS)))
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    answers = [answer for client in results for answer in client]
    assert {status for status, _ in answers} == {200}
    with Path(app_config["DATA_DIR"], "predictions.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(COLUMNS)
    assert len(rows) - 1 == CLIENTS * REQUESTS_PER_CLIENT
    assert all(len(row) == len(COLUMNS) for row in rows[1:])
    assert sorted(row[1] for row in rows[1:]) == sorted(request_id for _, request_id in answers)
    assert {row[-1] for row in rows[1:]} == {"0", "1"}  # both misses and cache hits were logged
    # /metrics adds up all three workers.
    counted = [line for line in metrics.splitlines() if line.startswith("http_requests_total{")
               and 'endpoint="/api/v1/classify"' in line and 'status="200"' in line]
    assert len(counted) == 1 and float(counted[0].split()[-1]) == CLIENTS * REQUESTS_PER_CLIENT
