"""GET /api/v1/models: what the MLflow registry holds (read-only; changes go through the CLI)."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import Tag

from ...extensions import registry_serving
from ...health import describe_url
from ...schemas.common import problem_responses
from ...schemas.models import ModelList
from . import bp

TAG = Tag(name="registry", description="Inference with models from the MLflow registry")


@bp.get("/models", tags=[TAG], responses={200: ModelList, **problem_responses(503)})
def list_models() -> dict[str, Any]:
    """Registered models with their versions and aliases (production is the one served)."""
    service = registry_serving()
    return {"models": service.registry.list_models(),
            "tracking_uri": describe_url(service.tracking_uri)}
