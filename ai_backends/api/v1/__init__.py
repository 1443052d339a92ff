"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

from . import classify, drift, generate, registry, sidecars  # noqa: E402,F401  (register the routes on bp)

# Chat memory, chat-semantic and cache analytics (a line of its own, to merge cleanly).
from . import chat  # noqa: E402,F401  # isort: skip
# The registry listing of the browser console (a line of its own, to merge cleanly).
from . import models  # noqa: E402,F401  # isort: skip
