"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

# Importing the route modules registers their routes on bp.
from ai_backends.api.v1 import (  # noqa: E402,F401
    chat,
    classify,
    drift,
    generate,
    model_card,
    models,
    registry,
    sidecars,
)
