"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

from . import classify, generate, model_card  # noqa: E402,F401  (registers the routes on bp)
