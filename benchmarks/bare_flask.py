"""The floor for bench_classify.py: a Flask app that parses the body and returns a dict.

Same route and the same shape of answer as /api/v1/classify, and nothing else: no schema
validation, model, cache, prediction log, metrics, access log or hooks.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/v1/classify")
def classify() -> dict[str, Any]:
    """Echo the first measurement inside an answer of the usual shape."""
    features = request.get_json()
    return {"predicted_class": "setosa", "predicted_class_index": 0,
            "probabilities": [1.0, 0.0, 0.0], "confidence": 1.0,
            "all_classes": ["setosa", "versicolor", "virginica"],
            "model_version": str(features["sepal_length"]), "cache_hit": False}
