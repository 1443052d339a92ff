"""Requests and responses of the sidecar endpoints (/classify-http, -grpc, -benchmark)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ai_backends.classify.schemas import EXAMPLE, ClassPrediction, IrisFeatures

MAX_ITERATIONS = 1000
Protocol = Literal["http", "grpc"]
# The specification's spelling of the protocols in answers.
ProtocolName = Literal["HTTP", "gRPC"]


class SidecarClassification(ClassPrediction):
    """The prediction for one flower, answered by a sidecar over the network (its
    ``model_version`` is the one the sidecar reported)."""

    protocol: ProtocolName
    processing_time_ms: float = Field(
        description="Round trip to the sidecar as the API measured it, in milliseconds"
    )


class BenchmarkRequest(IrisFeatures):
    """One flower and how many timed requests to send to each sidecar."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{**EXAMPLE, "iterations": 100}]}
    )

    iterations: int = Field(
        default=100, ge=1, le=MAX_ITERATIONS,
        description="Timed requests per protocol, after a few untimed warm-up requests",
    )


class ProtocolStats(BaseModel):
    """Latency of one protocol's requests (milliseconds) and its sequential throughput."""

    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    requests_per_second: float = Field(description="1000 / mean_ms: one client, in sequence")


class ProtocolSummary(BaseModel):
    """One protocol's answer and mean time, as the specification documents it."""

    predicted_class: str | None = Field(description="null when this protocol failed")
    protocol: ProtocolName
    avg_processing_time_ms: float | None = Field(description="Mean of the timed requests")


class BenchmarkResults(BaseModel):
    """The documented per-protocol summary (REST is the HTTP sidecar)."""

    rest: ProtocolSummary
    grpc: ProtocolSummary


class PerformanceAnalysis(BaseModel):
    """The documented comparison; null fields when a protocol failed."""

    http_time_ms: float | None
    grpc_time_ms: float | None
    speedup_factor: float | None = Field(description="Slower mean / faster mean")
    faster_protocol: ProtocolName | None
    time_difference_ms: float | None = Field(description="Slower mean - faster mean")


class BenchmarkResponse(BaseModel):
    """Both protocols on the same payload and model; null for a protocol that failed.

    ``results`` and ``performance_analysis`` are the specification's shape; the detailed
    latency statistics (``http``, ``grpc``, percentiles) sit beside them.
    """

    results: BenchmarkResults
    performance_analysis: PerformanceAnalysis
    iterations: int
    warmup_requests: int
    batch_size: int
    http: ProtocolStats | None
    grpc: ProtocolStats | None
    speedup_factor: float | None = Field(description="Slower mean / faster mean")
    faster_protocol: Protocol | None
    time_difference_ms: float | None = Field(description="Slower mean - faster mean")
    failures: dict[str, str] = Field(description="Why a protocol has no numbers, by protocol")
