"""Schemas of /health."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Dependency(BaseModel):
    """The state of one dependency as its probe found it."""

    up: bool
    implementation: str = Field(description="embedded (...) or external (...)")
    detail: str
    required: bool = Field(description="True when the API cannot serve without it")
    latency_ms: float = Field(description="How long the probe took")


class Health(BaseModel):
    """Overall status: 200 while classification can be served, 503 when it cannot."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    uptime_seconds: float
    degraded: list[str] = Field(description="Names of the dependencies that are down")
    dependencies: dict[str, Dependency]


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["alive"]


class Readiness(BaseModel):
    """Whether this replica should get traffic: 200 ready, 503 not ready."""

    status: Literal["ready", "not_ready"]
    failing: list[str] = Field(description="Required dependencies that did not answer")
