"""The floor with a cache miss's work in it: bench_servers.py's second floor (``io``).

``benchmarks/bare_flask.py`` plus what a cache miss of /api/v1/classify cannot skip while
keeping the API's guarantees, each done the cheapest way this project knows:
- the ONNX model on the row (the API's model file and session settings);
- a Redis lookup (``GET``) and store (``SET ... EX``) on one connection per thread, packed
  by hiredis, the store's reply read only before the thread's next command (as the API's
  exact cache does: a miss waits for Redis once);
- one CSV line appended to a file (every row logged);
- one JSON access-log line written to /dev/null (one log line per request).
No validation, hooks, metrics, tenancy, cache bound or error mapping. Redis is ``REDIS_URL``,
else the embedded one the API would start for the same ``DATA_DIR``; keys go under
``REDIS_KEY_PREFIX``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis
from flask import Flask, request
from hiredis import pack_command

from ai_backends.classify.model import onnx_session

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["setosa", "versicolor", "virginica"]

app = Flask(__name__)
_session = onnx_session(ROOT / "models" / "iris_classifier.onnx")  # the API's settings
_input = _session.get_inputs()[0].name
_data = os.environ.get("DATA_DIR") or tempfile.mkdtemp(prefix="bare-flask-io-")
_prefix = os.environ.get("REDIS_KEY_PREFIX", "").encode() + b"bare-flask-io:"
_log_fd = os.open(Path(_data) / "bare_flask_io.csv", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
_access = open(os.devnull, "w")  # noqa: SIM115 - the process's access log, open for its life
_local = threading.local()


def _redis_url() -> str:
    """``REDIS_URL``, else the embedded Redis the API would start for ``DATA_DIR``."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    from ai_backends.core.redis import embedded_redis_url

    url = embedded_redis_url(_data)
    if not url:
        raise SystemExit("no REDIS_URL and the embedded Redis did not start")
    return url


_pool = redis.ConnectionPool.from_url(_redis_url())


def _redis(*command: Any, wait: bool = True) -> Any:
    """Send one command on this thread's connection; its reply, unless ``wait`` is False
    (then it is read before the thread's next command)."""
    held = getattr(_local, "held", None)
    if held is None:
        held = _local.held = [_pool.get_connection(), False]  # connection, a reply unread
    connection = held[0]
    try:
        if held[1]:
            held[1] = False
            connection.read_response()
        connection.send_packed_command([pack_command(command)])
        if not wait:
            held[1] = True
            return None
        return connection.read_response()
    except BaseException:
        connection.disconnect()  # a reply may be left unread: start afresh
        held[1] = False
        raise


@app.post("/api/v1/classify")
def classify() -> dict[str, Any]:
    """Look the row up in Redis; on a miss run the model and store the answer; log both."""
    started = time.perf_counter()
    body = request.get_json()
    row = np.array([[body["sepal_length"], body["sepal_width"], body["petal_length"],
                     body["petal_width"]]], dtype=np.float32)
    key = _prefix + row.tobytes()
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
        _redis("SET", key, json.dumps(answer), "EX", 3600, wait=False)
    os.write(_log_fd, f"{time.time()},{body['sepal_length']},{answer['predicted_class']}\n"
             .encode())
    elapsed = time.perf_counter() - started
    _access.write(json.dumps({"method": "POST", "path": "/api/v1/classify", "status": 200,
                              "duration_ms": round(elapsed * 1000, 3)}) + "\n")
    _access.flush()
    return {**answer, "cache_hit": cached is not None}
