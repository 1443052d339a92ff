"""The OpenAI-compatible surface: /v1/chat/completions, /v1/completions, /v1/embeddings,
/v1/models, on the same services, keys, limits and metrics as the rest of the API."""

from flask_openapi3 import APIBlueprint

bp = APIBlueprint("openai", __name__, url_prefix="/v1")

# Importing the route module registers its routes on bp.
from ai_backends.api.openai import routes  # noqa: E402,F401
