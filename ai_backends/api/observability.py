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


# The labelled children of the two HTTP metrics, looked up once per label set: ``labels()``
# costs more than the ``inc()`` itself. Route templates, methods and statuses are few.
_counters: dict[tuple[str, str, int], Any] = {}
_histograms: dict[str, Any] = {}


def _finish(response: Response) -> Response:
    globals_ = g._get_current_object()
    request_id = getattr(globals_, "request_id", None)
    if request_id is None:  # a request that failed before _start ran
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    elapsed = time.perf_counter() - globals_.started
    current = request._get_current_object()  # type: ignore[attr-defined]
    rule = current.url_rule
    endpoint = rule.rule if rule else "unmatched"
    method, path, status = current.method, current.path, response.status_code
    counter = _counters.get((endpoint, method, status))
    if counter is None:
        counter = _counters[endpoint, method, status] = metrics.HTTP_REQUESTS.labels(
            endpoint, method, str(status))
    counter.inc()
    histogram = _histograms.get(endpoint)
    if histogram is None:
        histogram = _histograms[endpoint] = metrics.HTTP_LATENCY.labels(endpoint)
    histogram.observe(elapsed)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "%s %s %s %.1fms", method, path, status, elapsed * 1000,
            extra={"fields": {"method": method, "path": path, "status": status,
                              "duration_ms": round(elapsed * 1000, 3),
                              "client": current.remote_addr}},
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
