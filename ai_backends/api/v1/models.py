"""GET /api/v1/models: what the MLflow registry holds (read-only; changes go through the CLI)."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.v1 import bp
from ai_backends.core.health import describe_url
from ai_backends.core.schemas import problem_responses
from ai_backends.mlops.model_schemas import ModelList

TAG = Tag(name="registry", description="Inference with models from the MLflow registry")


@bp.get("/models", tags=[TAG], responses={200: ModelList, **problem_responses(503)})
def list_models() -> dict[str, Any]:
    """Registered models with their versions and aliases (production is the one served)."""
    service = services().registry
    return {"models": service.reads.list_models(),
            "tracking_uri": describe_url(service.tracking_uri)}
