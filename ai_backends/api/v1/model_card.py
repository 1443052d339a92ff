"""GET /api/v1/model-card."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import Tag

from ...extensions import classification
from ...schemas.common import problem_responses
from ...schemas.model_card import ModelCard
from . import bp

TAG = Tag(name="classification", description="Iris classification with the ONNX model")


@bp.get("/model-card", tags=[TAG], responses={200: ModelCard, **problem_responses(503)})
def model_card() -> dict[str, Any]:
    """The served classifier's training metadata: type, version, parameters, accuracy."""
    return dict(classification().model.metadata)
