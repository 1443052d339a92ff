"""POST /api/v1/generate and /api/v1/generate-secure."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_openapi3 import Tag

from ai_backends.api.context import services
from ai_backends.api.streaming import ndjson_stream
from ai_backends.api.v1 import bp
from ai_backends.core.errors import BadRequest
from ai_backends.core.schemas import problem_responses
from ai_backends.llm.injection import analyze
from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT, SECURE_SYSTEM_PROMPT
from ai_backends.llm.schemas import (
    MAX_PROMPT_CHARS,
    GenerateRequest,
    GenerateResponse,
    SecureGenerateRequest,
    SecureGenerateResponse,
    generation_dict,
)
from ai_backends.llm.service import single_turn

TAG = Tag(name="generation", description="Text generation with the local LLM")
ERRORS = problem_responses(400, 413, 415, 422, 502, 503)


@bp.post("/generate", tags=[TAG], responses={200: GenerateResponse, **ERRORS})
def generate(body: GenerateRequest) -> dict[str, Any] | Response:
    """Complete a prompt; with "stream": true the answer arrives as NDJSON lines."""
    messages = single_turn(GENERATE_SYSTEM_PROMPT, body.prompt)
    if body.stream:
        return ndjson_stream(services().llm.stream(messages, body.params()), generation_dict)
    return generation_dict(services().llm.generate(messages, body.params()))


@bp.post("/generate-secure", tags=[TAG], responses={200: SecureGenerateResponse, **ERRORS})
def generate_secure(body: SecureGenerateRequest) -> dict[str, Any] | Response:
    """Screen the prompt for injection first; a blocked prompt gets 400 and never runs."""
    analysis = analyze(body.prompt, MAX_PROMPT_CHARS, screen=services().injection)
    report = analysis.to_dict()
    if analysis.blocked:
        raise BadRequest(
            "prompt blocked: it looks like a prompt injection "
            f"({', '.join(analysis.detected_patterns)})",
            security_analysis=report,
        )
    # The system prompt and the user's text stay separate messages (roles), never one string.
    messages = single_turn(SECURE_SYSTEM_PROMPT, analysis.sanitized_text)

    def final(result: Any) -> dict[str, Any]:
        return {**generation_dict(result), "security_analysis": report}

    if body.stream:
        return ndjson_stream(services().llm.stream(messages, body.params()), final)
    return final(services().llm.generate(messages, body.params()))
