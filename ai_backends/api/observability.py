"""Request ids, access logs and Prometheus metrics for every request; GET /metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Response, current_app, g, request
from flask_openapi3 import OpenAPI, Tag

from ai_backends.core import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = logging.getLogger("ai_backends.access")


def _start() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # a request that failed before _start ran
        return response
    response.headers[REQUEST_ID_HEADER] = g.request_id
    elapsed = time.perf_counter() - g.started
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    metrics.HTTP_LATENCY.labels(endpoint).observe(elapsed)
    access_log.info(
        "%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed * 1000,
        extra={"fields": {"method": request.method, "path": request.path,
                          "status": response.status_code,
                          "duration_ms": round(elapsed * 1000, 3),
                          "client": request.remote_addr}},
    )
    return response


def metrics_endpoint() -> Response:
    """Prometheus metrics of every worker, in the text exposition format."""
    body, content_type = metrics.render(current_app.config.get("STACK_STATE_DIR", ""))
    return Response(body, content_type=content_type)


METRICS_RESPONSES: dict[int | str, Any] = {
    200: {"description": "Prometheus text exposition format",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}


def init_app(app: OpenAPI) -> None:
    """Give every request an id, log it, count it; serve /metrics."""
    app.before_request(_start)
    app.after_request(_finish)
    app.get("/metrics", tags=[Tag(name="health")], responses=METRICS_RESPONSES)(metrics_endpoint)
