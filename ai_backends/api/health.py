"""GET /health: what works, what is degraded, and which implementation is in use."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag

from ai_backends import __version__
from ai_backends.api.context import services
from ai_backends.core.health import check_health, minimal_details, redact_paths
from ai_backends.core.health_schemas import Health

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
