"""The sidecars are loopback-only unless they have a key, and with a key nobody calls them
without it (issue 14, item 9): REST and gRPC, in process and as the real entry points.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import grpc
import numpy as np
import pytest
from werkzeug.test import Client

from ai_backends.classify.model import OnnxClassifier
from ai_backends.core.errors import Unavailable
from ai_backends.oip.access import check_exposure, is_loopback
from ai_backends.oip.clients import GrpcSidecarClient, HttpSidecarClient
from ai_backends.oip.dataplane import DataPlane
from ai_backends.oip.generated import inference_pb2 as pb
from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc
from tests.conftest import free_port

pytestmark = pytest.mark.security
ROOT = Path(__file__).resolve().parents[2]
KEY = "sidecar-secret"
INFER = "/v2/models/iris-classifier/infer"
BODY = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                    "data": [5.1, 3.5, 1.4, 0.2]}]}
FLOWER = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)


@pytest.fixture(scope="module")
def plane(model_dir: Path) -> DataPlane:
    """A data plane on the session's model."""
    return DataPlane(OnnxClassifier(model_dir))


def test_only_loopback_may_go_without_a_key() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "", "::", "10.0.0.1", "example.org"))
    check_exposure("x", "127.0.0.1", "")
    check_exposure("x", "0.0.0.0", KEY)
    with pytest.raises(ValueError, match="beyond loopback"):
        check_exposure("x", "0.0.0.0", "")


def test_the_rest_sidecar_with_a_key_refuses_calls_without_it(plane: DataPlane) -> None:
    from ai_backends.oip.http_sidecar import create_http_app

    client = Client(create_http_app(plane, api_key=KEY))
    assert client.post(INFER, json=BODY).status_code == 401
    wrong = client.post(INFER, json=BODY, headers={"X-API-Key": "guess"})
    assert wrong.status_code == 401 and "SIDECAR_API_KEY" in wrong.json["error"]
    assert client.get("/v2").status_code == 401  # metadata too
    assert client.get("/v2/health/ready").status_code == 200  # probes need no secret
    assert client.post(INFER, json=BODY, headers={"X-API-Key": KEY}).status_code == 200


@pytest.fixture
def grpc_with_key(plane: DataPlane) -> Iterator[str]:
    from ai_backends.oip.grpc_sidecar import create_grpc_server

    sidecar = create_grpc_server(plane, f"127.0.0.1:{free_port()}", 2, 1 << 20, api_key=KEY)
    sidecar.server.start()
    yield f"127.0.0.1:{sidecar.port}"
    sidecar.server.stop(0).wait()


def test_the_grpc_sidecar_with_a_key_refuses_calls_without_it(grpc_with_key: str) -> None:
    with pytest.raises(Unavailable, match="UNAUTHENTICATED"):
        GrpcSidecarClient(grpc_with_key, 5).infer(FLOWER)
    with pytest.raises(Unavailable, match="UNAUTHENTICATED"):
        GrpcSidecarClient(grpc_with_key, 5, api_key="guess").infer(FLOWER)
    with grpc.insecure_channel(grpc_with_key) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready  # probes stay open
    answer = GrpcSidecarClient(grpc_with_key, 5, api_key=KEY).infer(FLOWER)
    assert answer.labels.tolist() == [0]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a real HTTP server on a free loopback port, in a thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


def test_the_rest_client_sends_the_key_and_the_sidecar_refuses_it_missing_or_wrong(
    plane: DataPlane,
) -> None:
    from ai_backends.oip.http_sidecar import create_http_app

    with serving(create_http_app(plane, api_key=KEY)) as url:
        for key in ("", "guess"):
            with pytest.raises(Unavailable, match="answered 401"):
                HttpSidecarClient(url, 5, api_key=key).infer(FLOWER)
        assert HttpSidecarClient(url, 5).ready()  # probes need no secret
        assert HttpSidecarClient(url, 5, api_key=KEY).infer(FLOWER).labels.tolist() == [0]


@pytest.mark.parametrize("answer", [b"<html>a proxy's page</html>", b"{}", b"[]",
                                    b'{"outputs": [{"name": "label"}]}'])
def test_a_rest_sidecar_answering_garbage_is_unavailable_not_a_crash(answer: bytes) -> None:
    def garbage(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]

    with serving(garbage) as url, pytest.raises(Unavailable, match="not an inference"):
        HttpSidecarClient(url, 5).infer(FLOWER)


@pytest.mark.parametrize("url,key", [("http://127.0.0.1:99999", ""), ("http://host:abc", ""),
                                     ("http://127.0.0.1:1", "key-from-a-file\n")])
def test_a_rest_client_misconfigured_is_unavailable_not_a_crash(url: str, key: str) -> None:
    client = HttpSidecarClient(url, 1, api_key=key)  # building it never raises
    with pytest.raises(Unavailable, match="unreachable"):
        client.infer(FLOWER)
    assert not client.ready()


@pytest.mark.parametrize("script,host", [("http_server.py", "HTTP_SIDECAR_HOST"),
                                         ("grpc_server.py", "GRPC_SIDECAR_HOST")])
def test_a_sidecar_refuses_to_listen_beyond_loopback_without_a_key(
        script: str, host: str, model_dir: Path) -> None:
    env = {**os.environ, "MODEL_DIR": str(model_dir), host: "0.0.0.0", "SIDECAR_API_KEY": "",
           "HTTP_SIDECAR_PORT": str(free_port()), "GRPC_SIDECAR_PORT": str(free_port())}
    done = subprocess.run([sys.executable, script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "beyond loopback" in done.stdout + done.stderr
