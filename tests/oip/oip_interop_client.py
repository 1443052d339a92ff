"""Talk to our sidecars with Triton's client library (a third-party OIP client).

Run as a separate process by ``test_oip_interop.py``: tritonclient registers its own
``inference`` protobuf package, which cannot live in one process with ours. Prints one JSON
object with what each protocol answered.

Usage: python tests/oip/oip_interop_client.py HTTP_HOST:PORT GRPC_HOST:PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

MODEL = "iris-classifier"
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


def check(module: Any, client: Any) -> dict[str, Any]:
    """Health, metadata, inference (FP32 tensor) and one error through ``client``."""
    tensor = module.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    result = client.infer(MODEL, [tensor])
    metadata = client.get_model_metadata(MODEL)
    if not isinstance(metadata, dict):  # gRPC returns a protobuf message
        from google.protobuf.json_format import MessageToDict

        metadata = MessageToDict(metadata, preserving_proto_field_name=True)
    try:
        client.infer("no-such-model", [tensor])
        error = None
    except InferenceServerException as exc:
        error = {"status": str(exc.status()), "message": exc.message()}
    answers = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(MODEL),
        "metadata": metadata,
        "labels": result.as_numpy("label").tolist(),
        "probabilities": result.as_numpy("probabilities").tolist(),
        "unknown_model_error": error,
    }
    if module is triton_http:
        # tritonclient.http sends binary tensor data by default (above); plain JSON too:
        tensor.set_data_from_numpy(ROWS, binary_data=False)
        outputs = [module.InferRequestedOutput(name, binary_data=False)
                   for name in ("label", "probabilities")]
        json_result = client.infer(MODEL, [tensor], outputs=outputs)
        answers["json_labels"] = json_result.as_numpy("label").tolist()
    return answers


def main() -> None:
    """Check both sidecars and print the findings as JSON."""
    http_url, grpc_url = sys.argv[1], sys.argv[2]
    report = {
        "http": check(triton_http, triton_http.InferenceServerClient(http_url)),
        # tritonclient.grpc sends the input as raw_input_contents.
        "grpc": check(triton_grpc, triton_grpc.InferenceServerClient(grpc_url)),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
