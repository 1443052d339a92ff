"""GET /api/v1/model-card."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.v1 import bp
from ai_backends.classify.model_card import ModelCard
from ai_backends.core.schemas import problem_responses

TAG = Tag(name="classification", description="Iris classification with the ONNX model")


@bp.get("/model-card", tags=[TAG], responses={200: ModelCard, **problem_responses(503)})
def model_card() -> dict[str, Any]:
    """The served classifier's training metadata: type, version, parameters, accuracy."""
    return dict(services().classification.model.metadata)
