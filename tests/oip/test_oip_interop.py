"""A third-party Open Inference Protocol client (Triton's) against both real sidecars."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .servers import ROOT, Sidecar

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("tritonclient") is None,
                       reason="tritonclient (requirements-dev.txt) is not installed"),
]
CLIENT = Path(__file__).with_name("oip_interop_client.py")


@pytest.fixture(scope="module")
def report(http_sidecar: Sidecar, grpc_sidecar: Sidecar) -> dict[str, Any]:
    http_hostport = http_sidecar.address.removeprefix("http://")
    done = subprocess.run([sys.executable, str(CLIENT), http_hostport, grpc_sidecar.address],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_triton_client_health_metadata_and_inference(report: dict[str, Any],
                                                     protocol: str) -> None:
    answers = report[protocol]
    assert answers["live"] and answers["ready"] and answers["model_ready"]
    metadata = answers["metadata"]
    assert metadata["name"] == "iris-classifier"
    assert metadata["inputs"][0]["name"] == "input"
    assert metadata["inputs"][0]["datatype"] == "FP32"
    assert [str(d) for d in metadata["inputs"][0]["shape"]] == ["-1", "4"]
    assert answers["labels"] == [0, 2]
    assert all(abs(sum(row) - 1) < 1e-5 for row in answers["probabilities"])


def test_triton_http_client_in_plain_json(report: dict[str, Any]) -> None:
    assert report["http"]["json_labels"] == [0, 2]


def test_triton_client_sees_our_errors(report: dict[str, Any]) -> None:
    assert "no-such-model" in report["http"]["unknown_model_error"]["message"]
    assert report["grpc"]["unknown_model_error"]["status"] == "StatusCode.NOT_FOUND"
