"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

# Importing the route modules registers their routes on bp.
from . import chat, classify, drift, generate, registry, sidecars  # noqa: E402,F401

# The registry listing of the browser console (a line of its own, to merge cleanly).
from . import models  # noqa: E402,F401  # isort: skip
