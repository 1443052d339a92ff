"""The floor with a cache miss's work in it: bench_servers.py's second floor (``io``).

``benchmarks/bare_flask.py`` plus what a cache miss of /api/v1/classify cannot skip while
keeping the API's guarantees, each done the cheapest way this project knows:
- the ONNX model on the row (the API's model file and session settings);
- a Redis lookup and store through the API's own exact cache without its bound
  (``ExactCache`` with ``max_entries=0``: one connection per thread, the store's reply read
  only before the thread's next command, so a miss waits for Redis once);
- one CSV line appended to a file (every row logged);
- one JSON access-log line written to /dev/null (one log line per request).
No validation, hooks, HTTP metrics, tenancy, cache bound or error mapping. Redis is
``REDIS_URL``, else the embedded one the API would start for the same ``DATA_DIR``; keys go
under ``REDIS_KEY_PREFIX``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, request

from ai_backends.cache.exact import ExactCache
from ai_backends.classify.model import onnx_session
from ai_backends.core.redis import connect, embedded_redis_url

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["setosa", "versicolor", "virginica"]

app = Flask(__name__)
_session = onnx_session(ROOT / "models" / "iris_classifier.onnx")  # the API's settings
_input = _session.get_inputs()[0].name
_data = os.environ.get("DATA_DIR") or tempfile.mkdtemp(prefix="bare-flask-io-")
_log_fd = os.open(Path(_data) / "bare_flask_io.csv", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
_access = open(os.devnull, "w")  # noqa: SIM115 - the process's access log, open for its life
_url = os.environ.get("REDIS_URL") or embedded_redis_url(_data)
if not _url:
    raise SystemExit("no REDIS_URL and the embedded Redis did not start")
_cache = ExactCache("bare-flask-io", connect(_url),
                    os.environ.get("REDIS_KEY_PREFIX", "") + "bare-flask-io:", ttl=3600)


@app.post("/api/v1/classify")
def classify() -> dict[str, Any]:
    """Look the row up in Redis; on a miss run the model and store the answer; log both."""
    started = time.perf_counter()
    body = request.get_json()
    row = np.array([[body["sepal_length"], body["sepal_width"], body["petal_length"],
                     body["petal_width"]]], dtype=np.float32)
    key = row.tobytes().hex()
    [cached] = _cache.lookup([key])
    if cached is not None:
        answer = cached
    else:
        labels, probabilities = _session.run(None, {_input: row})
        index = int(labels[0])
        scores = [float(p) for p in probabilities[0]]
        answer = {"predicted_class": CLASSES[index], "predicted_class_index": index,
                  "probabilities": scores, "confidence": max(scores), "all_classes": CLASSES,
                  "model_version": "1.0.0"}
        _cache.insert({key: answer})
    os.write(_log_fd, f"{time.time()},{body['sepal_length']},{answer['predicted_class']}\n"
             .encode())
    elapsed = time.perf_counter() - started
    _access.write(json.dumps({"method": "POST", "path": "/api/v1/classify", "status": 200,
                              "duration_ms": round(elapsed * 1000, 3)}) + "\n")
    _access.flush()
    return {**answer, "cache_hit": cached is not None}
