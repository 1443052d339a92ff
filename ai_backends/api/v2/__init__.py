"""Version 2 of the API: richer metadata; v1 stays unchanged beside it."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v2", __name__, url_prefix="/api/v2")

from ai_backends.api.v2 import generate  # noqa: E402, F401  (registers the routes on bp)
