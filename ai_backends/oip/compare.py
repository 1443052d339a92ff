"""Classification through the inference sidecars, and a fair REST-vs-gRPC comparison.

The API's ``/classify-http``, ``/classify-grpc`` and ``/classify-benchmark`` call this
service; it calls the sidecars through the clients in ``oip.clients`` (one connection pool
per process) and never touches Flask's request objects.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from ai_backends.classify.model import OnnxClassifier, check_features, prediction_answer
from ai_backends.classify.predlog import PredictionStore
from ai_backends.core import metrics
from ai_backends.core.errors import BadRequest, ServiceError, Unavailable
from ai_backends.oip.clients import GrpcSidecarClient, HttpSidecarClient

PROTOCOLS = ("http", "grpc")
# How answers name each protocol (the specification's spelling: "HTTP", "gRPC").
PROTOCOL_NAMES = {"http": "HTTP", "grpc": "gRPC"}
WARMUP_REQUESTS = 5


def latency_stats(samples_ms: list[float]) -> dict[str, float]:
    """Mean, percentiles, extremes and sequential requests per second of latencies in ms."""
    ordered = sorted(samples_ms)

    def percentile(p: float) -> float:
        # Nearest rank: a value that was actually observed.
        return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]

    mean = statistics.fmean(ordered)
    return {
        "mean_ms": round(mean, 4),
        "p50_ms": round(percentile(50), 4),
        "p95_ms": round(percentile(95), 4),
        "p99_ms": round(percentile(99), 4),
        "min_ms": round(ordered[0], 4),
        "max_ms": round(ordered[-1], 4),
        "requests_per_second": round(1000 / mean, 1) if mean > 0 else 0.0,
    }


def documented_comparison(results: dict[str, Any], predicted: dict[str, str],
                          comparison: dict[str, Any]) -> dict[str, Any]:
    """The specification's ``results`` (rest, grpc) and ``performance_analysis`` blocks.

    ``avg_processing_time_ms`` is the mean of the timed requests (``mean_ms``); a protocol
    that failed has ``null`` there, as in the detailed statistics beside it.
    """
    def mean(protocol: str) -> float | None:
        stats = results.get(protocol)
        return None if stats is None else float(stats["mean_ms"])

    faster = comparison["faster_protocol"]
    return {
        "results": {
            key: {"predicted_class": predicted.get(protocol),
                  "protocol": PROTOCOL_NAMES[protocol],
                  "avg_processing_time_ms": mean(protocol)}
            for key, protocol in (("rest", "http"), ("grpc", "grpc"))
        },
        "performance_analysis": {
            "http_time_ms": mean("http"),
            "grpc_time_ms": mean("grpc"),
            "speedup_factor": comparison["speedup_factor"],
            "faster_protocol": PROTOCOL_NAMES[faster] if faster else None,
            "time_difference_ms": comparison["time_difference_ms"],
        },
    }


class SidecarService:
    """Classifies through a sidecar and compares the two protocols on the same payload."""

    def __init__(self, model: OnnxClassifier, http: HttpSidecarClient,
                 grpc: GrpcSidecarClient, log: PredictionStore) -> None:
        self.model = model
        self.log = log
        self.clients: dict[str, HttpSidecarClient | GrpcSidecarClient] = {
            "http": http, "grpc": grpc,
        }

    def client(self, protocol: str) -> HttpSidecarClient | GrpcSidecarClient:
        """The client of ``protocol`` ('http' or 'grpc')."""
        if protocol not in self.clients:
            raise BadRequest(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
        return self.clients[protocol]

    def classify(self, protocol: str, row: list[float], request_id: str) -> dict[str, Any]:
        """Classify one flower on the sidecar of ``protocol``, timing and logging it."""
        features = check_features([row])
        started = time.perf_counter()
        answer = self._infer(protocol, features)
        elapsed_ms = (time.perf_counter() - started) * 1000
        result = {
            **prediction_answer(answer.labels, answer.probabilities, 0, self.model.classes,
                                answer.model_version),
            "protocol": PROTOCOL_NAMES[protocol],
            "processing_time_ms": round(elapsed_ms, 3),
        }
        self.log.record(f"classify-{protocol}", request_id, features, [result], elapsed_ms)
        return result

    def _infer(self, protocol: str, features: np.ndarray) -> Any:
        """One call to the sidecar of ``protocol``, counted by outcome in the metrics."""
        client = self.client(protocol)
        try:
            answer = client.infer(features)
        except Exception:
            metrics.SIDECAR_CALLS.labels(protocol, "error").inc()
            raise
        metrics.SIDECAR_CALLS.labels(protocol, "ok").inc()
        return answer

    def benchmark(self, row: list[float], iterations: int) -> dict[str, Any]:
        """Time ``iterations`` single-row calls per protocol, interleaved, warm-up excluded.

        Interleaving (http, grpc, http, grpc, ...) gives both protocols the same share of
        the machine's noise. A protocol that fails is reported by name; the other's numbers
        still come back. Both failing is ``Unavailable``.
        """
        features = check_features([row])
        failures: dict[str, str] = {}
        predicted: dict[str, str] = {}
        for protocol in PROTOCOLS:
            try:
                for _ in range(WARMUP_REQUESTS):
                    answer = self._infer(protocol, features)
                predicted[protocol] = self.model.classes[int(answer.labels[0])]
            except ServiceError as exc:
                failures[protocol] = exc.detail
        working = [p for p in PROTOCOLS if p not in failures]
        if not working:
            raise Unavailable("both sidecars failed: " + "; ".join(
                f"{p}: {message}" for p, message in failures.items()))
        samples: dict[str, list[float]] = {p: [] for p in working}
        for _ in range(iterations):
            for protocol in list(samples):
                started = time.perf_counter()
                try:
                    self._infer(protocol, features)
                except ServiceError as exc:  # died mid-run: keep what the other measured
                    failures[protocol] = exc.detail
                    del samples[protocol]
                    continue
                samples[protocol].append((time.perf_counter() - started) * 1000)
        if not samples:
            raise Unavailable("both sidecars failed during the benchmark: " + "; ".join(
                f"{p}: {message}" for p, message in failures.items()))
        results: dict[str, Any] = {
            p: latency_stats(samples[p]) if p in samples else None for p in PROTOCOLS
        }
        comparison: dict[str, Any] = {
            "speedup_factor": None, "faster_protocol": None, "time_difference_ms": None,
        }
        if len(samples) == 2:
            http_ms, grpc_ms = results["http"]["mean_ms"], results["grpc"]["mean_ms"]
            faster, slower = sorted([http_ms, grpc_ms])
            comparison = {
                "speedup_factor": round(slower / faster, 3) if faster > 0 else None,
                "faster_protocol": "grpc" if grpc_ms < http_ms else "http",
                "time_difference_ms": round(slower - faster, 4),
            }
        return {
            **documented_comparison(results, predicted, comparison),
            "iterations": iterations,
            "warmup_requests": WARMUP_REQUESTS,
            "batch_size": int(np.shape(features)[0]),
            **results,
            **comparison,
            "failures": failures,
        }
