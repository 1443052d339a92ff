"""POST /api/v1/generate and /api/v1/generate-secure."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_openapi3 import Tag

from ...errors import BadRequest
from ...extensions import llm
from ...llm.injection import analyze
from ...llm.prompts import GENERATE_SYSTEM_PROMPT, SECURE_SYSTEM_PROMPT
from ...llm.service import single_turn
from ...schemas.common import problem_responses
from ...schemas.generation import (
    MAX_PROMPT_CHARS,
    GenerateRequest,
    GenerateResponse,
    SecureGenerateRequest,
    SecureGenerateResponse,
    generation_dict,
)
from ..streaming import ndjson_stream
from . import bp

TAG = Tag(name="generation", description="Text generation with the local LLM")
ERRORS = problem_responses(400, 413, 415, 422, 503)


@bp.post("/generate", tags=[TAG], responses={200: GenerateResponse, **ERRORS})
def generate(body: GenerateRequest) -> dict[str, Any] | Response:
    """Complete a prompt; with "stream": true the answer arrives as NDJSON lines."""
    messages = single_turn(GENERATE_SYSTEM_PROMPT, body.prompt)
    if body.stream:
        return ndjson_stream(llm().stream(messages, body.params()), generation_dict)
    return generation_dict(llm().generate(messages, body.params()))


@bp.post("/generate-secure", tags=[TAG], responses={200: SecureGenerateResponse, **ERRORS})
def generate_secure(body: SecureGenerateRequest) -> dict[str, Any] | Response:
    """Screen the prompt for injection first; a blocked prompt gets 400 and never runs."""
    analysis = analyze(body.prompt, MAX_PROMPT_CHARS)
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
        return ndjson_stream(llm().stream(messages, body.params()), final)
    return final(llm().generate(messages, body.params()))
