"""POST /api/v1/classify-registry: classify with a model from the MLflow registry."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.v1 import bp
from ai_backends.classify.schemas import IrisFeatures
from ai_backends.core.schemas import problem_responses
from ai_backends.mlops.schemas import RegistryClassification, RegistryQuery

# RFC 9745 Deprecation header (a structured date): MLflow deprecated stages in favour of
# aliases in version 2.9, December 2023.
STAGES_DEPRECATED = "@1701388800"
TAG = Tag(name="registry", description="Inference with models from the MLflow registry")


@bp.post("/classify-registry", tags=[TAG], responses={
    200: RegistryClassification, **problem_responses(400, 404, 413, 415, 422, 503)})
def classify_registry(
    query: RegistryQuery, body: IrisFeatures
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Classify one flower with a registry model chosen by version, else deprecated stage,
    else alias (default production); the resolved version is loaded once and kept."""
    # One selector is used: version, else stage, else alias (model_registry_info says which).
    alias = None if query.version is not None or query.stage else query.alias
    stage = None if query.version is not None else query.stage
    answer = services().registry.classify(body.as_row(), query.model_format, alias,
                                         query.version, stage, g.request_id)
    headers = {}
    if stage:
        headers["Deprecation"] = STAGES_DEPRECATED
    return answer, 200, headers
