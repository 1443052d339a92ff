"""Version 1 of the API: one module per capability, all on this blueprint."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("v1", __name__, url_prefix="/api/v1")

from . import classify, drift, generate, registry  # noqa: E402,F401  (registers the routes on bp)

# Chat memory, chat-semantic and cache analytics (a line of its own, to merge cleanly).
from . import chat  # noqa: E402,F401  # isort: skip

# The model card, which the MCP server reads with --url (a line of its own, to merge cleanly).
from . import model_card  # noqa: E402,F401  # isort: skip
