"""GET /api/v1/drift-report (+ /html) and POST /api/v1/classify-shifted."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, send_file
from flask_openapi3 import Tag
from werkzeug.wrappers import Response

from ai_backends.api.context import services
from ai_backends.api.v1 import bp
from ai_backends.core.errors import InvalidInput, NotFound
from ai_backends.core.schemas import problem_responses
from ai_backends.mlops.schemas import (
    DriftQuery,
    DriftReport,
    ShiftedClassification,
    ShiftedRequest,
    html_response,
)
from ai_backends.mlops.shift import classify_shifted

TAG = Tag(name="drift", description="Drift monitoring with Evidently, and drift simulation")


@bp.get("/drift-report", tags=[TAG],
        responses={200: DriftReport, **problem_responses(409, 422, 503)})
def drift_report(query: DriftQuery) -> dict[str, Any]:
    """Compare the last `limit` logged classifications with the training reference."""
    maximum = current_app.config["DRIFT_MAX_SAMPLES"]
    if query.limit > maximum:
        raise InvalidInput(f"limit must be at most {maximum} (DRIFT_MAX_SAMPLES)", errors=[
            {"field": "limit", "message": f"at most {maximum}", "type": "less_than_equal"}])
    return services().drift.report(query.limit)


@bp.get("/drift-report/html", tags=[TAG], responses={
    200: html_response("The latest Evidently report as a self-contained page"),
    **problem_responses(404)})
def drift_report_html() -> Response:
    """The HTML page of the latest drift report (open it in a browser)."""
    path = services().drift.html_path
    if not path.exists():
        raise NotFound("no drift report yet; GET /api/v1/drift-report first")
    return send_file(path, mimetype="text/html", max_age=0)


@bp.post("/classify-shifted", tags=[TAG], responses={
    200: ShiftedClassification, **problem_responses(400, 413, 415, 422, 503)})
def classify_shifted_route(body: ShiftedRequest) -> dict[str, Any]:
    """Classify a flower and a shifted copy (default sepal_length +1.5, petal_width x1.3);
    only the shifted copy is logged, so drift reports see it."""
    return classify_shifted(services().classification, body.model_dump(exclude={"shifts"}),
                            body.shift_map(), g.request_id)
