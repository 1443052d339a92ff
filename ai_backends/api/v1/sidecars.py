"""POST /api/v1/classify-http, /classify-grpc and /classify-benchmark: via the sidecars."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.v1 import bp
from ai_backends.classify.schemas import IrisFeatures
from ai_backends.core.schemas import problem_responses
from ai_backends.oip.schemas import BenchmarkRequest, BenchmarkResponse, SidecarClassification

TAG = Tag(name="sidecars",
          description="The same classifier behind the Open Inference Protocol sidecars")
ERRORS = problem_responses(400, 413, 415, 422, 503)


@bp.post("/classify-http", tags=[TAG], responses={200: SidecarClassification, **ERRORS})
def classify_http(body: IrisFeatures) -> dict[str, Any]:
    """Classify one flower on the REST sidecar (JSON tensors over HTTP/1.1)."""
    return services().sidecars.classify("http", body.as_row(), g.request_id)


@bp.post("/classify-grpc", tags=[TAG], responses={200: SidecarClassification, **ERRORS})
def classify_grpc(body: IrisFeatures) -> dict[str, Any]:
    """Classify one flower on the gRPC sidecar (raw tensor bytes over HTTP/2)."""
    return services().sidecars.classify("grpc", body.as_row(), g.request_id)


@bp.post("/classify-benchmark", tags=[TAG], responses={200: BenchmarkResponse, **ERRORS})
def classify_benchmark(body: BenchmarkRequest) -> dict[str, Any]:
    """Time the same request on both sidecars, interleaved, warm-up excluded."""
    return services().sidecars.benchmark(body.as_row(), body.iterations)
