"""The REST sidecar, started for real: health, metadata, inference and protocol errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris

from ai_backends.classify.model import OnnxClassifier

from .servers import Sidecar, start_http_sidecar

pytestmark = pytest.mark.integration

MODEL = "iris-classifier"
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


def tensor(data: Any, shape: list[int], datatype: str = "FP32", name: str = "input") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def infer(sidecar: Sidecar, body: Any, model: str = MODEL, **kwargs: Any) -> requests.Response:
    return requests.post(f"{sidecar.address}/v2/models/{model}/infer", json=body, timeout=5,
                         **kwargs)


def test_health_endpoints_answer_with_status_codes(http_sidecar: Sidecar) -> None:
    for path in ["/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL}/ready"]:
        response = requests.get(f"{http_sidecar.address}{path}", timeout=5)
        assert response.status_code == 200, path
        assert response.content == b""  # the protocol: the status code is the answer
    unknown = requests.get(f"{http_sidecar.address}/v2/models/other/ready", timeout=5)
    assert unknown.status_code == 404 and "other" in unknown.json()["error"]


def test_server_and_model_metadata_tell_the_truth(http_sidecar: Sidecar, model_dir: Path) -> None:
    server = requests.get(f"{http_sidecar.address}/v2", timeout=5).json()
    assert server["name"] == "ai-backends-py" and server["extensions"] == []
    metadata = requests.get(f"{http_sidecar.address}/v2/models/{MODEL}", timeout=5).json()
    version = OnnxClassifier(model_dir).version
    assert metadata == {
        "name": MODEL,
        "versions": [version],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ],
    }
    versioned = requests.get(f"{http_sidecar.address}/v2/models/{MODEL}/versions/{version}",
                             timeout=5)
    assert versioned.json() == metadata
    ready = requests.get(f"{http_sidecar.address}/v2/models/{MODEL}/versions/{version}/ready",
                         timeout=5)
    assert ready.status_code == 200
    wrong = requests.get(f"{http_sidecar.address}/v2/models/{MODEL}/versions/nope", timeout=5)
    assert wrong.status_code == 404 and version in wrong.json()["error"]


def test_infer_single_row_nested_data_and_id_echo(http_sidecar: Sidecar, model_dir: Path) -> None:
    response = infer(http_sidecar, {"id": "req-7", "inputs": [tensor([SETOSA], [1, 4])]})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "req-7" and body["model_name"] == MODEL
    assert body["model_version"] == OnnxClassifier(model_dir).version
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"] == {"name": "label", "datatype": "INT64", "shape": [1], "data": [0]}
    probabilities = outputs["probabilities"]
    assert probabilities["shape"] == [1, 3] and probabilities["datatype"] == "FP32"
    assert sum(probabilities["data"]) == pytest.approx(1.0, abs=1e-5)


def test_infer_batch_of_all_iris_rows_agrees_with_the_model(
    http_sidecar: Sidecar, model_dir: Path
) -> None:
    rows = load_iris().data.astype(np.float32)
    expected = OnnxClassifier(model_dir).predict(rows)
    body = infer(http_sidecar, {"inputs": [tensor(rows.reshape(-1).tolist(), [150, 4])]}).json()
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"]["data"] == expected.labels.tolist()
    assert np.allclose(np.reshape(outputs["probabilities"]["data"], (150, 3)),
                       expected.probabilities)


def test_infer_a_large_batch_and_requested_outputs_only(http_sidecar: Sidecar) -> None:
    rows = np.tile([SETOSA, VIRGINICA], (512, 1))
    body = infer(http_sidecar, {
        "inputs": [tensor(rows.tolist(), [1024, 4])],
        "outputs": [{"name": "label"}],
    }).json()
    assert [o["name"] for o in body["outputs"]] == ["label"]
    assert body["outputs"][0]["data"] == [0, 2] * 512


BAD_TENSORS: list[tuple[str, Any, str]] = [
    ("wrong shape", {"inputs": [tensor(SETOSA[:3], [1, 3])]}, "shape"),
    ("wrong datatype", {"inputs": [tensor([5, 3, 1, 0], [1, 4], "INT64")]}, "FP32"),
    ("length mismatch", {"inputs": [tensor(SETOSA, [2, 4])]}, "elements"),
    ("empty batch", {"inputs": [tensor([], [0, 4])]}, "n >= 1"),
    ("no inputs", {"inputs": []}, "inputs"),
    ("two inputs", {"inputs": [tensor(SETOSA, [1, 4]), tensor(SETOSA, [1, 4])]}, "exactly 1"),
    ("unknown input name", {"inputs": [tensor(SETOSA, [1, 4], name="x")]}, "unknown input"),
    ("strings as data", {"inputs": [tensor(["a", "b", "c", "d"], [1, 4])]}, "FP32"),
    ("ragged data", {"inputs": [tensor([[1, 2], [3]], [1, 4])]}, "regular"),
    ("unknown datatype", {"inputs": [tensor(SETOSA, [1, 4], "FLOAT")]}, "datatype"),
    ("bytes tensor", {"inputs": [tensor(["x"], [1], "BYTES")]}, "BYTES"),
    ("shape not ints", {"inputs": [tensor(SETOSA, ["1", 4])]}, "shape"),
    ("negative size", {"inputs": [tensor(SETOSA, [-1, 4])]}, "shape"),
    ("out of range", {"inputs": [tensor([5.1, 3.5, 1.4, -0.2], [1, 4])]}, "cm"),
    ("unknown output", {"inputs": [tensor(SETOSA, [1, 4])], "outputs": [{"name": "z"}]}, "z"),
    ("not an object", [1, 2, 3], "JSON object"),
]


@pytest.mark.parametrize(("case", "body", "reason"), BAD_TENSORS, ids=[c[0] for c in BAD_TENSORS])
def test_malformed_tensors_get_400_with_a_reason(
    http_sidecar: Sidecar, case: str, body: Any, reason: str
) -> None:
    response = infer(http_sidecar, body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_nan_and_invalid_json_and_unknown_model(http_sidecar: Sidecar) -> None:
    nan_body = '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", ' \
               '"data": [NaN, 3.5, 1.4, 0.2]}]}'
    headers = {"Content-Type": "application/json"}
    url = f"{http_sidecar.address}/v2/models/{MODEL}/infer"
    nan = requests.post(url, data=nan_body, headers=headers, timeout=5)
    assert nan.status_code == 400 and "finite" in nan.json()["error"]
    broken = requests.post(url, data="{not json", headers=headers, timeout=5)
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]
    unknown = infer(http_sidecar, {"inputs": [tensor(SETOSA, [1, 4])]}, model="resnet")
    assert unknown.status_code == 404 and "resnet" in unknown.json()["error"]
    route = requests.get(f"{http_sidecar.address}/v3/nothing", timeout=5)
    assert route.status_code == 404 and "error" in route.json()
    # and after all that the server still serves
    assert requests.get(f"{http_sidecar.address}/v2/health/live", timeout=5).status_code == 200


def test_model_missing_means_not_ready_and_503(tmp_path: Path) -> None:
    sidecar = start_http_sidecar(tmp_path, wait_for="live")
    try:
        ready = requests.get(f"{sidecar.address}/v2/health/ready", timeout=5)
        assert ready.status_code == 400  # the protocol's "false"
        response = infer(sidecar, {"inputs": [tensor(SETOSA, [1, 4])]})
        assert response.status_code == 503 and "model not found" in response.json()["error"]
        assert response.headers["Retry-After"]
    finally:
        assert sidecar.stop() == 0


def test_sigterm_stops_the_server_gracefully(model_dir: Path) -> None:
    sidecar = start_http_sidecar(model_dir)
    assert infer(sidecar, {"inputs": [tensor(SETOSA, [1, 4])]}).status_code == 200
    assert sidecar.stop() == 0


def _binary_request(sidecar: Sidecar, rows: np.ndarray, size: int | None = None,
                    extra: bytes = b"") -> requests.Response:
    raw = rows.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw) if size is None else size}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}},
                    {"name": "probabilities"}],
    }).encode()
    return requests.post(f"{sidecar.address}/v2/models/{MODEL}/infer", data=header + raw + extra,
                         headers={"Inference-Header-Content-Length": str(len(header))},
                         timeout=5)


def test_binary_tensor_data_extension(http_sidecar: Sidecar) -> None:
    rows = np.array([SETOSA, VIRGINICA], dtype=np.float32)
    response = _binary_request(http_sidecar, rows)
    assert response.status_code == 200
    split = int(response.headers["Inference-Header-Content-Length"])
    body = json.loads(response.content[:split])
    label, probabilities = body["outputs"]
    assert label["parameters"] == {"binary_data_size": 16} and "data" not in label
    assert np.frombuffer(response.content[split:], "<i8").tolist() == [0, 2]
    assert len(probabilities["data"]) == 6  # asked for as JSON


def test_binary_tensor_data_that_does_not_add_up_is_400(http_sidecar: Sidecar) -> None:
    rows = np.array([SETOSA], dtype=np.float32)
    too_long = _binary_request(http_sidecar, rows, size=64)
    assert too_long.status_code == 400 and "past the body" in too_long.json()["error"]
    leftover = _binary_request(http_sidecar, rows, extra=b"\x00" * 4)
    assert leftover.status_code == 400 and "belong to no input" in leftover.json()["error"]
    short = _binary_request(http_sidecar, rows, size=8, extra=b"")
    assert short.status_code == 400
