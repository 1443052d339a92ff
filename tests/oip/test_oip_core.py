"""The sidecars' core without servers: data plane, converters, error mapping, statistics."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from werkzeug.test import Client

from ai_backends.classify.model import OnnxClassifier
from ai_backends.core.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
)
from ai_backends.oip import converters
from ai_backends.oip.clients import features_input
from ai_backends.oip.compare import latency_stats
from ai_backends.oip.dataplane import DataPlane, InferInput
from ai_backends.oip.grpc_sidecar import status_code

pytestmark = pytest.mark.unit

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


@pytest.fixture(scope="module")
def plane(model_dir: Path) -> DataPlane:
    return DataPlane(OnnxClassifier(model_dir))


def test_infer_returns_both_outputs_in_their_shapes(plane: DataPlane) -> None:
    result = plane.infer("iris-classifier", "", [features_input(ROWS)], request_id="r1")
    outputs = {o.name: o for o in result.outputs}
    assert outputs["label"].data.tolist() == [0, 2] and outputs["label"].shape == [2]
    assert outputs["probabilities"].shape == [2, 3] and result.id == "r1"


def test_bad_values_are_bad_requests_not_validation_errors(plane: DataPlane) -> None:
    bad = InferInput("input", "FP32", [1, 4], np.array([np.nan, 1, 1, 1], dtype=np.float32))
    with pytest.raises(BadRequest, match="finite"):
        plane.infer("iris-classifier", "", [bad])


def test_unknown_model_and_version(plane: DataPlane) -> None:
    with pytest.raises(NotFound):
        plane.model_metadata("resnet")
    with pytest.raises(NotFound, match="no version"):
        plane.model_ready("iris-classifier", "v0")


def test_missing_model_is_not_ready_and_unavailable(tmp_path: Path) -> None:
    empty = DataPlane(OnnxClassifier(tmp_path))
    assert empty.live() and not empty.ready()
    with pytest.raises(Unavailable):
        empty.infer("iris-classifier", "", [features_input(ROWS)])


@pytest.mark.parametrize("raw", [True, False])
def test_protobuf_request_round_trip(raw: bool) -> None:
    request = converters.request_to_proto("iris-classifier", [features_input(ROWS)], raw=raw)
    assert bool(request.raw_input_contents) is raw
    inputs, outputs = converters.request_from_proto(request)
    assert inputs[0].shape == [2, 4] and outputs == []
    assert np.array_equal(inputs[0].data.reshape(2, 4), ROWS)


def test_json_binary_extension_and_plain_data_decode_alike() -> None:
    raw = ROWS.astype("<f4").tobytes()
    binary = converters.request_from_json({"inputs": [
        {"name": "input", "shape": [2, 4], "datatype": "FP32",
         "parameters": {"binary_data_size": len(raw)}}]}, raw)
    plain = converters.request_from_json({"inputs": [
        {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": ROWS.tolist()}]})
    assert np.array_equal(binary.inputs[0].data, plain.inputs[0].data)


def test_one_status_table_for_grpc() -> None:
    assert status_code(BadRequest("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(InvalidInput("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(NotFound("x")) == grpc.StatusCode.NOT_FOUND
    assert status_code(Conflict("x")) == grpc.StatusCode.FAILED_PRECONDITION
    assert status_code(Unavailable("x")) == grpc.StatusCode.UNAVAILABLE
    assert status_code(ServiceError("x")) == grpc.StatusCode.INTERNAL


def test_latency_stats_use_observed_values() -> None:
    stats = latency_stats([float(ms) for ms in range(1, 101)])
    assert stats["p50_ms"] == 50 and stats["p95_ms"] == 95 and stats["p99_ms"] == 99
    assert stats["min_ms"] == 1 and stats["max_ms"] == 100 and stats["mean_ms"] == 50.5
    assert stats["requests_per_second"] == pytest.approx(1000 / 50.5, abs=0.1)


def test_rest_app_refuses_a_body_over_the_limit(plane: DataPlane) -> None:
    from ai_backends.oip.http_sidecar import create_http_app

    client = Client(create_http_app(plane, max_request_bytes=100))
    response = client.post("/v2/models/iris-classifier/infer", data=b"x" * 200)
    assert response.status_code == 413 and "error" in response.json


def test_rest_app_answers_wrong_methods_and_unknown_paths_in_the_protocols_errors(
    plane: DataPlane,
) -> None:
    from ai_backends.oip.http_sidecar import create_http_app

    client = Client(create_http_app(plane))
    infer_path = "/v2/models/iris-classifier/infer"
    wrong = client.get(infer_path)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert "GET" in wrong.json["error"]
    posted = client.post("/v2/health/live")
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"
    got, head = client.get("/v2"), client.head("/v2")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"] != "0"
    for path in ("/", "/v3", "/v2/", "/v2/models", "/v2/models/iris-classifier/",
                 "/v2/models//ready", "/v2/models/iris-classifier/versions",
                 "/v2/health/other", "/v2/models/iris-classifier/infer/more"):
        missing = client.get(path)
        assert missing.status_code == 404 and "error" in missing.json, path
    unknown = client.post("/v2/models/resnet/infer", data=b"{}")
    assert unknown.status_code == 404 and "resnet" in unknown.json["error"]


def test_rest_app_refuses_odd_lengths_and_names_paths_as_sent(plane: DataPlane) -> None:
    from ai_backends.oip.http_sidecar import create_http_app

    client = Client(create_http_app(plane))
    infer_path = "/v2/models/iris-classifier/infer"
    for length in ("9" * 5000, "²", "-1", "1e3"):
        response = client.post(infer_path, data=b'{"inputs": []}',
                               headers={"Inference-Header-Content-Length": length})
        assert response.status_code == 400, length
        assert "Inference-Header-Content-Length" in response.json["error"]
    named = client.get("/v2/models/%C3%AFris")
    assert named.status_code == 404 and "'ïris'" in named.json["error"]
    long_path = client.get("/v3/" + "x" * 10_000)
    assert long_path.status_code == 404 and len(long_path.json["error"]) < 200
