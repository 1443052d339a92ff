"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

from . import (  # noqa: E402,F401  (registers the routes on bp)
    chat,
    classify,
    drift,
    generate,
    model_card,
    registry,
)
