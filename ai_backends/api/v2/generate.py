"""POST /api/v2/generate: the answer plus metadata (model, backend, timing, token counts)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.v2 import bp
from ai_backends.core.errors import NotFound
from ai_backends.core.schemas import problem_responses
from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT
from ai_backends.llm.schemas import V2GenerateRequest, V2GenerateResponse
from ai_backends.llm.service import single_turn

TAG = Tag(name="generation v2", description="Text generation with response metadata")
API_VERSION = "v2"


@bp.post("/generate", tags=[TAG],
         responses={200: V2GenerateResponse,
                    **problem_responses(400, 404, 413, 415, 422, 502, 503)})
def generate(body: V2GenerateRequest) -> dict[str, Any]:
    """Complete a prompt; metadata says which model answered, how fast, how many tokens.

    ``model_version`` may name the model in use or the configured Ollama model; when the
    embedded model answers for it, ``model_used`` names the embedded model and
    ``model_substituted`` is true. Any other name is 404.
    """
    started = time.perf_counter()
    service = services().llm
    if body.model_version is not None and not service.serves(body.model_version):
        raise NotFound(f"model {body.model_version!r} is not served; this service runs "
                       f"{service.model!r} on {service.backend}")
    result = service.generate(single_turn(GENERATE_SYSTEM_PROMPT, body.prompt), body.params())
    return {
        "response": result.text,
        "metadata": {
            "api_version": API_VERSION,
            "model_used": result.model,
            "model_requested": body.model_version,
            "model_substituted": (body.model_version is not None
                                  and body.model_version != result.model),
            "backend": result.backend,
            "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
            "token_count": result.total_tokens,
            "tokens": {"prompt": result.prompt_tokens,
                       "completion": result.completion_tokens,
                       "total": result.total_tokens},
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        },
    }
