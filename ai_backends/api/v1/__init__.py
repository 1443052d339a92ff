"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

from . import classify, drift, generate, model_card, registry  # noqa: E402,F401  (routes on bp)
