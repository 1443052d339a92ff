"""POST /api/v1/classify and /api/v1/classify-detailed."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.v1 import bp
from ai_backends.classify.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    DetailedClassification,
    IrisFeatures,
)
from ai_backends.core.schemas import problem_responses

TAG = Tag(name="classification", description="Iris classification with the ONNX model")
ERRORS = problem_responses(400, 413, 415, 422, 503)


@bp.post("/classify", tags=[TAG], responses={200: ClassifyResponse, **ERRORS})
def classify(body: ClassifyRequest) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Classify one flower, or a batch with {"samples": [...]}; exact answers are cached."""
    predictions = services().classification.classify(body.rows(), "classify", g.request_id)
    hits = sum(p.cache_hit for p in predictions)
    cache_header = "HIT" if hits == len(predictions) else ("PARTIAL" if hits else "MISS")
    headers = {"X-Cache": cache_header}
    if not body.is_batch:
        return predictions[0].to_dict(), 200, headers
    batch = {
        "predictions": [p.to_dict() for p in predictions],
        "count": len(predictions),
        "cache_hits": hits,
        "model_version": predictions[0].model_version,
    }
    return batch, 200, headers


@bp.post("/classify-detailed", tags=[TAG], responses={200: DetailedClassification, **ERRORS})
def classify_detailed(body: IrisFeatures) -> dict[str, Any]:
    """Classify one flower and show the raw NumPy arrays, serialized by the JSON provider."""
    return services().classification.classify_detailed(body.as_row(), g.request_id)
