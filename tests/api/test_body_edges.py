"""Bodies and request lines that used to slip past the edges, against the real servers.

Deeply nested JSON was a 500 (RecursionError), a chunked body escaped the size limit (cut
to the limit and parsed), and a 10 kB request line got gunicorn's HTML page. Each is sent
raw over a socket to the API under gunicorn, under ``python app.py`` (the development
server) and to the REST sidecar.
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.oip.servers import start_http_sidecar
from tests.servers import gunicorn_argv, running

pytestmark = [pytest.mark.integration, pytest.mark.security]

NESTED = "[" * 100_000 + "]" * 100_000
FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
MiB = 1024 * 1024


@pytest.fixture(scope="module", params=["gunicorn", "app.py"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        model_dir: Path, redis_url: str) -> Iterator[tuple[str, int]]:
    """The API on a free port, under gunicorn and under the development server."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("edges")
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(data_dir), "REDIS_URL": redis_url,
           "REDIS_KEY_PREFIX": f"edges-{port}:", "LOG_LEVEL": "WARNING", "PORT": str(port),
           "HTTP_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{free_port()}"}
    argv = gunicorn_argv(port, workers=1) if request.param == "gunicorn" else [
        sys.executable, "app.py"]
    with running(argv, env, f"http://127.0.0.1:{port}/health"):
        yield request.param, port


def send_chunked(port: int, path: str, chunks: list[bytes]) -> tuple[int, str, Any]:
    """POST ``chunks`` with Transfer-Encoding: chunked; (status, content type, JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    try:
        for chunk in chunks:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer 413 and close before reading everything: read the answer
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type", ""), json.loads(body)


def post(port: int, path: str, body: bytes) -> tuple[int, str, Any]:
    """POST ``body`` as JSON with a Content-Length; (status, content type, JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type", ""), json.loads(data)


POST_PATHS = ["/api/v1/classify", "/api/v1/classify-detailed", "/api/v1/generate",
              "/api/v1/chat", "/api/v2/generate", "/api/v1/classify-registry"]


@pytest.mark.parametrize("path", POST_PATHS)
def test_deeply_nested_json_is_a_400_problem(api: tuple[str, int], path: str) -> None:
    status, media_type, body = post(api[1], path, NESTED.encode())
    assert status == 400, body
    assert media_type.startswith("application/problem+json")
    assert "nested too deeply" in body["detail"]


def test_a_valid_chunked_body_is_answered(api: tuple[str, int]) -> None:
    status, _, body = send_chunked(api[1], "/api/v1/classify", [json.dumps(FLOWER).encode()])
    assert status == 200, body
    assert body["predicted_class"] == "setosa"


def test_a_valid_body_padded_past_the_limit_is_413_when_chunked(api: tuple[str, int]) -> None:
    status, media_type, body = send_chunked(
        api[1], "/api/v1/classify", [json.dumps(FLOWER).encode(), b" " * (5 * MiB)])
    assert status == 413, body
    assert media_type.startswith("application/problem+json")


def test_a_50_mb_chunked_body_is_413(api: tuple[str, int]) -> None:
    status, _, body = send_chunked(api[1], "/api/v1/classify", [b" " * MiB] * 50)
    assert status == 413, body


def test_a_10_kb_request_line_gets_a_problem(api: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api[1], timeout=30)
    connection.request("GET", "/health?padding=" + "a" * 10_000)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    if api[0] == "app.py":  # the development server takes lines up to 64 kB: the app answers
        assert response.status == 200, body
        return
    assert response.status == 414, body  # gunicorn refuses the line, in the API's own format
    assert response.getheader("Content-Type", "").startswith("application/problem+json")
    assert body["title"] == "URI Too Long"


def test_the_rest_sidecar_refuses_nested_and_oversized_chunked_bodies(model_dir: Path) -> None:
    sidecar = start_http_sidecar(model_dir)
    port = int(sidecar.address.rsplit(":", 1)[1])
    path = "/v2/models/iris-classifier/infer"
    try:
        status, _, body = post(port, path, NESTED.encode())
        assert status == 400 and "nested too deeply" in body["error"], body
        status, _, body = send_chunked(port, path, [b" " * MiB] * 20)  # limit: 16 MiB
        assert status == 413, body
    finally:
        sidecar.stop()
