"""Health: /health (the detailed view), /livez (liveness) and /readyz (readiness).

- ``/livez`` answers 200 as long as the process serves HTTP; it probes nothing, so an
  orchestrator never restarts a replica that is only waiting for Redis or PostgreSQL.
- ``/readyz`` answers 200 when the model is loaded and every *required* dependency answers
  (the shared prediction store when one is configured), else 503: a replica that cannot
  classify gets no traffic. Optional dependencies (Redis, sidecars, MLflow, the LLM) only
  degrade features, so they do not take a replica out of rotation.
- ``/health`` runs every probe and shows each one's state.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag

from ai_backends import __version__
from ai_backends.api.context import services
from ai_backends.core.health import check_health, minimal_details, redact_paths
from ai_backends.core.health_schemas import Health, Liveness, Readiness

bp = APIBlueprint("health", __name__, abp_tags=[Tag(name="health")])


@bp.get("/health", responses={200: Health, 503: Health})
def health() -> tuple[dict[str, Any], int]:
    """State of the service and of every dependency, probed with short timeouts."""
    serving, dependencies = check_health(services().dependencies,
                                         current_app.config["HEALTH_PROBE_TIMEOUT"])
    if minimal_details(current_app.config):
        for entry in dependencies.values():
            entry["detail"] = redact_paths(entry["detail"])
    degraded = sorted(name for name, entry in dependencies.items() if not entry["up"])
    status = "unavailable" if not serving else ("degraded" if degraded else "ok")
    body = {
        "status": status,
        "version": __version__,
        "uptime_seconds": round(time.time() - current_app.config["STARTED_AT"], 1),
        "degraded": degraded,
        "dependencies": dependencies,
    }
    return body, 200 if serving else 503


@bp.get("/livez", responses={200: Liveness})
def livez() -> tuple[dict[str, Any], int]:
    """Liveness: the process answers (no dependency is probed)."""
    return {"status": "alive"}, 200


@bp.get("/readyz", responses={200: Readiness, 503: Readiness})
def readyz() -> tuple[dict[str, Any], int]:
    """Readiness: the model is loaded and every required dependency answers."""
    required = {name: dep for name, dep in services().dependencies.items() if dep.required}
    ready, report = check_health(required, current_app.config["HEALTH_PROBE_TIMEOUT"])
    failing = sorted(name for name, entry in report.items() if not entry["up"])
    return {"status": "ready" if ready else "not_ready", "failing": failing}, (
        200 if ready else 503)
