"""Prometheus metrics of the whole service, defined once here and served at /metrics.

Under gunicorn each worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set up by
``gunicorn.conf.py``) and /metrics aggregates every worker; without it the process's own
registry is served.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route template, method and status",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency by route template",
    ["endpoint"], buckets=LATENCY_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "cache_lookups_total",
    "Cache lookups by cache (classify and chat-exact are exact caches, chat-semantic the "
    "semantic one) and result (hit, miss)",
    ["cache", "result"],
)
CLASSIFICATIONS = Counter(
    "classifications_total", "Classified samples by endpoint and predicted class",
    ["endpoint", "predicted_class"],
)
LLM_REQUESTS = Counter(
    "llm_requests_total", "LLM generations by backend and outcome (ok, error)",
    ["backend", "outcome"],
)
LLM_TOKENS = Counter(
    "llm_tokens_total", "LLM tokens by backend and kind (prompt, completion)",
    ["backend", "kind"],
)
LLM_LATENCY = Histogram(
    "llm_request_duration_seconds", "LLM generation latency by backend",
    ["backend"], buckets=LATENCY_BUCKETS,
)
LLM_PROMPT_LEAKS = Counter(
    "llm_system_prompt_leaks_total",
    "Answers withheld because they repeated the system prompt's canary token, by backend",
    ["backend"],
)
SIDECAR_CALLS = Counter(
    "sidecar_requests_total", "Calls to the inference sidecars by protocol and outcome",
    ["protocol", "outcome"],
)
DRIFT_LEVELS = {"NO_DRIFT": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
DRIFT_STATUS = Gauge(
    "drift_monitoring_status", "Last drift report: 0 no drift, 1 low, 2 medium, 3 high",
    multiprocess_mode="mostrecent",
)


def render() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with their content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
