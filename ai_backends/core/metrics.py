"""Prometheus metrics of the whole service, defined once here and served at /metrics.

Under either server each worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set up
by ``gunicorn.conf.py`` or ``core/granian_main.py``) and /metrics aggregates every worker;
without it the process's own registry is served.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

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
INJECTION_SCREEN_WINDOWS = Counter(
    "injection_screen_windows_total",
    "Windows of prompts the injection screen scored, by stage: cleared by the gates alone "
    "(gate) or embedded and scored by MiniLM's regression (model)",
    ["stage"],
)
SIDECAR_CALLS = Counter(
    "sidecar_requests_total", "Calls to the inference sidecars by protocol and outcome",
    ["protocol", "outcome"],
)
PREDICTION_STORE_ERRORS = Counter(
    "prediction_store_errors_total",
    "Prediction-store operations that failed after their retries (the request got a 503)",
)
DRIFT_LEVELS = {"NO_DRIFT": 0, "LOW_DRIFT": 1, "MEDIUM_DRIFT": 2, "HIGH_DRIFT": 3}
DRIFT_STATUS = Gauge(
    "drift_monitoring_status", "Last drift report: 0 no drift, 1 low, 2 medium, 3 high",
    multiprocess_mode="mostrecent",
)




class StackRestarts(Collector):
    """``stack_process_restarts_total`` from the counts run.py's supervisor writes.

    The supervisor is not a worker of the API, so it keeps its counts in a file of its state
    folder (``restarts.json``, replaced atomically); this reads it at every scrape.
    """

    def __init__(self, state_dir: str) -> None:
        self.path = Path(state_dir) / "restarts.json"

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One sample per supervised process; nothing when the file is missing."""
        try:
            counts = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        family = CounterMetricFamily(
            "stack_process_restarts", "Restarts of each process of the stack by run.py's "
            "supervisor after it exited unexpectedly", labels=["process"])
        for name, count in sorted(counts.items()):
            family.add_metric([name], float(count))
        yield family


def render(stack_state_dir: str = "") -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with their content type.

    ``stack_state_dir`` (set by run.py) adds the supervisor's restart counts.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    if stack_state_dir:
        stack = CollectorRegistry(auto_describe=False)
        stack.register(StackRestarts(stack_state_dir))
        body += generate_latest(stack)
    return body, CONTENT_TYPE_LATEST
