"""The floor with a cache miss's work in it: bench_servers.py's second floor (``io``).

``benchmarks/bare_flask.py`` plus what a cache miss of /api/v1/classify cannot skip while
keeping the API's guarantees, each done the cheapest way this project knows:
- the ONNX model on the row (onnxruntime, the API's model file);
- one Redis round trip to look the answer up (``GET``) and one to store it (``SET ... EX``),
  on one raw socket per thread, packed and parsed by hiredis (no client library);
- one CSV line appended to a file (every row logged);
- one JSON access-log line written to /dev/null (one log line per request).
No validation, hooks, metrics, tenancy or error mapping. Redis is ``REDIS_URL``, else the
embedded one the API would start for the same ``DATA_DIR``.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hiredis
import numpy as np
import onnxruntime
from flask import Flask, request

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["setosa", "versicolor", "virginica"]

app = Flask(__name__)
_session = onnxruntime.InferenceSession(str(ROOT / "models" / "iris_classifier.onnx"),
                                        providers=["CPUExecutionProvider"])
_input = _session.get_inputs()[0].name
_data = os.environ.get("DATA_DIR") or tempfile.mkdtemp(prefix="bare-flask-io-")
_log_fd = os.open(Path(_data) / "bare_flask_io.csv", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
_access = open(os.devnull, "w")  # noqa: SIM115 - the process's access log, open for its life
_local = threading.local()


def _redis_address() -> tuple[int, Any]:
    """Socket family and address of ``REDIS_URL`` or of the embedded Redis."""
    url = os.environ.get("REDIS_URL")
    if not url:
        from ai_backends.core.redis import embedded_redis_url

        url = embedded_redis_url(_data)
    parts = urlsplit(url or "")
    if parts.scheme == "unix":
        return socket.AF_UNIX, parts.path
    return socket.AF_INET, (parts.hostname or "127.0.0.1", parts.port or 6379)


_family, _address = _redis_address()


def _redis(*command: Any) -> Any:
    """Send one command on this thread's socket and return its reply."""
    held = getattr(_local, "redis", None)
    if held is None:
        sock = socket.socket(_family, socket.SOCK_STREAM)
        sock.connect(_address)
        held = _local.redis = (sock, hiredis.Reader())
    sock, reader = held
    sock.sendall(hiredis.pack_command(command))
    reply = reader.gets()
    while reply is False:
        reader.feed(sock.recv(65536))
        reply = reader.gets()
    return reply


@app.post("/api/v1/classify")
def classify() -> dict[str, Any]:
    """Look the row up in Redis; on a miss run the model and store the answer; log both."""
    started = time.perf_counter()
    body = request.get_json()
    row = np.array([[body["sepal_length"], body["sepal_width"], body["petal_length"],
                     body["petal_width"]]], dtype=np.float32)
    key = b"bare-flask-io:" + row.tobytes()
    cached = _redis("GET", key)
    if cached is not None:
        answer = json.loads(cached)
    else:
        labels, probabilities = _session.run(None, {_input: row})
        index = int(labels[0])
        scores = [float(p) for p in probabilities[0]]
        answer = {"predicted_class": CLASSES[index], "predicted_class_index": index,
                  "probabilities": scores, "confidence": max(scores), "all_classes": CLASSES,
                  "model_version": "1.0.0"}
        _redis("SET", key, json.dumps(answer), "EX", 3600)
    os.write(_log_fd, f"{time.time()},{body['sepal_length']},{answer['predicted_class']}\n"
             .encode())
    elapsed = time.perf_counter() - started
    _access.write(json.dumps({"method": "POST", "path": "/api/v1/classify", "status": 200,
                              "duration_ms": round(elapsed * 1000, 3)}) + "\n")
    _access.flush()
    return {**answer, "cache_hit": cached is not None}
