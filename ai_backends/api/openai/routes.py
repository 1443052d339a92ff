"""The routes of the OpenAI-compatible surface: parse, call ``services().openai``, format."""

from __future__ import annotations

import time
from typing import Any

from flask import Response
from flask_openapi3 import Tag

from ai_backends.api.auth import tenant
from ai_backends.api.context import services
from ai_backends.api.openai import bp
from ai_backends.api.openai.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    ErrorBody,
    ModelPath,
    OpenAIModel,
    OpenAIModelList,
    TextCompletion,
)
from ai_backends.api.openai.streaming import sse_response
from ai_backends.llm.openai import chat_completion, completion_id, text_completion

TAG = Tag(name="openai", description="OpenAI-compatible API: point an OpenAI SDK at /v1")
ERRORS: dict[int | str, Any] = {status: ErrorBody for status in (400, 404, 413, 415, 503)}


@bp.post("/chat/completions", tags=[TAG], responses={200: ChatCompletion, **ERRORS})
def chat_completions(body: ChatCompletionRequest) -> dict[str, Any] | Response:
    """Continue a conversation (OpenAI's chat completions; "stream": true for SSE)."""
    service, created = services().openai, int(time.time())
    response_id = completion_id("chatcmpl")
    if body.stream:
        stream = service.chat_stream(body.model, body.turns(), body.params(),
                                     body.screen_injection, body.semantic_cache, tenant())
        return sse_response(stream, response_id, created, True, body.include_usage())
    outcome = service.chat(body.model, body.turns(), body.params(), body.screen_injection,
                           body.semantic_cache, tenant())
    return chat_completion(outcome, response_id, created)


@bp.post("/completions", tags=[TAG], responses={200: TextCompletion, **ERRORS})
def completions(body: CompletionRequest) -> dict[str, Any] | Response:
    """Complete a prompt (OpenAI's legacy completions; the prompt is one user message)."""
    service, created = services().openai, int(time.time())
    response_id = completion_id("cmpl")
    if body.stream:
        stream = service.complete_stream(body.model, body.text(), body.params(),
                                         body.screen_injection)
        return sse_response(stream, response_id, created, False, body.include_usage())
    outcome = service.complete(body.model, body.text(), body.params(), body.screen_injection)
    return text_completion(outcome, response_id, created)


@bp.post("/embeddings", tags=[TAG], responses={200: EmbeddingList, **ERRORS})
def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
    """Embed one text or a batch with all-MiniLM-L6-v2 (unit vectors, 384 dimensions)."""
    return services().openai.embeddings(body.model, body.texts(), body.encoding_format,
                                        body.dimensions)


@bp.get("/models", tags=[TAG], responses={200: OpenAIModelList})
def list_models() -> dict[str, Any]:
    """The models that can answer here now, each with its backend."""
    return {"object": "list", "data": services().openai.models()}


@bp.get("/models/<path:model>", tags=[TAG], responses={200: OpenAIModel, 404: ErrorBody})
def get_model(path: ModelPath) -> dict[str, Any]:
    """One model that can answer here."""
    return services().openai.model(path.model)
