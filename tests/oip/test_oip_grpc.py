"""The gRPC sidecar, started for real: every RPC, typed and raw tensors, status codes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sklearn.datasets import load_iris

from ai_backends.classify.model import OnnxClassifier
from ai_backends.oip.generated import inference_pb2 as pb
from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc

from .servers import Sidecar, start_grpc_sidecar

pytestmark = pytest.mark.integration

MODEL = "iris-classifier"
SERVICE = "inference.GRPCInferenceService"
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


@pytest.fixture(scope="module")
def channel(grpc_sidecar: Sidecar) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_sidecar.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> Any:
    return pb_grpc.GRPCInferenceServiceStub(channel)


def typed_request(values: Any, shape: list[int], datatype: str = "FP32",
                  model: str = MODEL) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, id="typed")
    tensor = request.inputs.add(name="input", datatype=datatype, shape=shape)
    field = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT64": "int64_contents"}
    getattr(tensor.contents, field[datatype]).extend(values)
    return request


def raw_request(content: bytes, shape: list[int], datatype: str = "FP32") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="input", datatype=datatype, shape=shape)
    request.raw_input_contents.append(content)
    return request


def test_health_and_metadata_rpcs(stub: Any, model_dir: Path) -> None:
    assert stub.ServerLive(pb.ServerLiveRequest()).live is True
    assert stub.ServerReady(pb.ServerReadyRequest()).ready is True
    assert stub.ModelReady(pb.ModelReadyRequest(name=MODEL)).ready is True
    server = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert server.name == "ai-backends-py" and server.version
    metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL))
    assert list(metadata.versions) == [OnnxClassifier(model_dir).version]
    assert metadata.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("probabilities", "FP32", [-1, 3]), ("label", "INT64", [-1])]


def test_unknown_model_or_version_is_not_found(stub: Any) -> None:
    for call, request in [
        (stub.ModelReady, pb.ModelReadyRequest(name="resnet")),
        (stub.ModelMetadata, pb.ModelMetadataRequest(name="resnet")),
        (stub.ModelMetadata, pb.ModelMetadataRequest(name=MODEL, version="nope")),
        (stub.ModelInfer, typed_request(SETOSA, [1, 4], model="resnet")),
    ]:
        with pytest.raises(grpc.RpcError) as error:
            call(request)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert "resnet" in error.value.details() or "nope" in error.value.details()


def test_typed_contents_are_answered_typed(stub: Any) -> None:
    response = stub.ModelInfer(typed_request(SETOSA + VIRGINICA, [2, 4]))
    assert response.id == "typed" and not response.raw_output_contents
    outputs = {o.name: o for o in response.outputs}
    assert list(outputs["label"].contents.int64_contents) == [0, 2]
    assert list(outputs["probabilities"].shape) == [2, 3]
    assert len(outputs["probabilities"].contents.fp32_contents) == 6


def test_raw_contents_are_answered_raw_and_agree_with_the_model(
    stub: Any, model_dir: Path
) -> None:
    rows = load_iris().data.astype("<f4")
    expected = OnnxClassifier(model_dir).predict(rows)
    response = stub.ModelInfer(raw_request(rows.tobytes(), [150, 4]))
    assert len(response.raw_output_contents) == 2
    assert all(not o.HasField("contents") for o in response.outputs)
    names = [o.name for o in response.outputs]
    labels = np.frombuffer(response.raw_output_contents[names.index("label")], "<i8")
    probabilities = np.frombuffer(
        response.raw_output_contents[names.index("probabilities")], "<f4").reshape(150, 3)
    assert labels.tolist() == expected.labels.tolist()
    assert np.allclose(probabilities, expected.probabilities)


def test_large_raw_batch_and_requested_output(stub: Any) -> None:
    rows = np.tile(np.array([SETOSA, VIRGINICA], "<f4"), (512, 1))
    request = raw_request(rows.tobytes(), [1024, 4])
    request.outputs.add(name="label")
    response = stub.ModelInfer(request)
    assert [o.name for o in response.outputs] == ["label"]
    assert np.frombuffer(response.raw_output_contents[0], "<i8").tolist() == [0, 2] * 512


def _mixed() -> pb.ModelInferRequest:
    request = typed_request(SETOSA, [1, 4])
    request.raw_input_contents.append(np.array(SETOSA, "<f4").tobytes())
    return request


def _two_raw() -> pb.ModelInferRequest:
    request = raw_request(np.array(SETOSA, "<f4").tobytes(), [1, 4])
    request.raw_input_contents.append(b"")
    return request


BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("wrong shape", lambda: typed_request(SETOSA[:3], [1, 3]), "shape"),
    ("wrong datatype", lambda: typed_request([5, 3, 1, 0], [1, 4], "INT64"), "FP32"),
    ("fp64 contents", lambda: typed_request(SETOSA, [1, 4], "FP64"), "FP32"),
    ("typed length mismatch", lambda: typed_request(SETOSA, [2, 4]), "elements"),
    ("raw length mismatch", lambda: raw_request(np.zeros(3, "<f4").tobytes(), [1, 4]),
     "elements"),
    ("raw not whole elements", lambda: raw_request(b"\x00" * 15, [1, 4]), "raw bytes"),
    ("NaN", lambda: typed_request([float("nan"), 3.5, 1.4, 0.2], [1, 4]), "finite"),
    ("infinity raw", lambda: raw_request(np.array([np.inf, 1, 1, 1], "<f4").tobytes(), [1, 4]),
     "finite"),
    ("empty batch", lambda: typed_request([], [0, 4]), "n >= 1"),
    ("no inputs", lambda: pb.ModelInferRequest(model_name=MODEL), "exactly 1"),
    ("contents and raw", _mixed, "not both"),
    ("raw count mismatch", _two_raw, "raw_input_contents"),
    ("out of range", lambda: typed_request([5.1, 3.5, 1.4, 500], [1, 4]), "cm"),
]


@pytest.mark.parametrize(("case", "make", "reason"), BAD_REQUESTS,
                         ids=[c[0] for c in BAD_REQUESTS])
def test_malformed_tensors_are_invalid_argument(stub: Any, case: str, make: Any,
                                                reason: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(make())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in error.value.details()
    assert stub.ServerLive(pb.ServerLiveRequest()).live  # still serving


def test_standard_health_checking_service(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answer = next(iter(stub.ServerReflectionInfo(iter([request]))))
    names = {service.name for service in answer.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_stops_the_server_gracefully(model_dir: Path, processes: int) -> None:
    sidecar = start_grpc_sidecar(model_dir, processes)
    with grpc.insecure_channel(sidecar.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ModelInfer(typed_request(SETOSA, [1, 4])).outputs
    assert sidecar.stop() == 0


def test_a_taken_port_is_an_error_not_a_second_listener(
    grpc_sidecar: Sidecar, model_dir: Path
) -> None:
    import os
    import subprocess
    import sys

    from .servers import ROOT

    port = grpc_sidecar.address.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "grpc_server.py"], cwd=ROOT, capture_output=True, text=True, timeout=30,
        env={**os.environ, "MODEL_DIR": str(model_dir), "GRPC_SIDECAR_PORT": port,
             "GRPC_SIDECAR_PROCESSES": "1"},
    )
    assert done.returncode != 0 and "cannot bind" in done.stderr


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.parametrize("age", ["0", "0.1"])
def test_a_long_lived_client_spreads_over_the_processes_only_with_a_connection_age(
    model_dir: Path, age: str
) -> None:
    # One channel is one HTTP/2 connection, and the kernel gives it to one of the processes
    # sharing the port; asked to reconnect now and then, the client lands on either.
    sidecar = start_grpc_sidecar(model_dir, 2, env={
        "GRPC_SIDECAR_MAX_CONNECTION_AGE_SECONDS": age})
    try:
        parent = sidecar.process.pid
        workers = [int(pid) for pid in
                   Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        assert len(workers) == 2
        time.sleep(1.0)  # ServerReady came from one worker; let the other finish loading
        before = {pid: _cpu_seconds(pid) for pid in workers}
        with grpc.insecure_channel(sidecar.address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            deadline = time.monotonic() + 4

            def call_until_deadline() -> int:
                calls = 0
                while time.monotonic() < deadline:
                    assert stub.ModelInfer(typed_request(SETOSA, [1, 4]), timeout=10).outputs
                    calls += 1
                return calls

            # Several threads, so that calls are in flight when a connection is recycled;
            # any failed call raises here.
            with ThreadPoolExecutor(4) as pool:
                calls = sum(pool.map(lambda _: call_until_deadline(), range(4)))
        spent = sorted(_cpu_seconds(pid) - before[pid] for pid in workers)
        assert calls > 100 and spent[1] > 0.3, (calls, spent)
        if age == "0":
            assert spent[0] < 0.1 * spent[1], spent  # every call went to one process
        else:
            assert spent[0] > 0.2 * spent[1], spent  # both processes served calls
    finally:
        assert sidecar.stop() == 0
