"""Chat with memory, cached single-turn chat and cache analytics.

POST /api/v1/chat, GET and DELETE /api/v1/chat/<session_id>, POST /api/v1/chat-semantic,
GET /api/v1/cache/stats, DELETE /api/v1/cache. Every route passes the caller's tenant
(``auth.tenant()``): sessions, cache entries and statistics are the tenant's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response
from flask_openapi3 import Tag

from ai_backends.api.auth import tenant
from ai_backends.api.context import services
from ai_backends.api.streaming import ndjson_stream
from ai_backends.api.v1 import bp
from ai_backends.chat.cached import CacheInfo
from ai_backends.chat.memory import ChatTurn, history_dicts, memory_stats
from ai_backends.chat.schemas import (
    CacheClearQuery,
    CacheClearResponse,
    CacheStatsResponse,
    ChatHistory,
    ChatRequest,
    ChatResponse,
    SemanticChatRequest,
    SemanticChatResponse,
    SessionPath,
)
from ai_backends.core.schemas import problem_responses
from ai_backends.llm import Generation

CHAT_TAG = Tag(name="chat", description="Conversations with memory, and cached answers")
CACHE_TAG = Tag(name="cache", description="Analytics and administration of the chat caches")
POST_ERRORS = problem_responses(400, 409, 413, 415, 422, 502, 503)


def turn_dict(turn: ChatTurn) -> dict[str, Any]:
    """Response body of one chat turn (also the final NDJSON record)."""
    return {
        "response": turn.response,
        "session_id": turn.session_id,
        # The specification counts exchanges (1 after the first); messages are twice that.
        "conversation_length": turn.conversation_length // 2,
        "messages_exchanged": turn.conversation_length,
        "memory_stats": turn.memory,
        "model": turn.generation.model,
        "backend": turn.generation.backend,
        "latency_ms": round(turn.generation.latency_ms, 2),
    }


@bp.post("/chat", tags=[CHAT_TAG], responses={200: ChatResponse, **POST_ERRORS})
def chat(body: ChatRequest) -> dict[str, Any] | Response:
    """Send a message in a conversation; the session remembers its recent turns."""
    service = services().chat()
    if not body.stream:
        return turn_dict(service.chat(tenant(), body.prompt, body.session_id, body.params()))
    _, pieces = service.chat_stream(tenant(), body.prompt, body.session_id, body.params())
    finished: list[ChatTurn] = []

    def chunks() -> Iterator[str | Generation]:
        try:
            for item in pieces:
                if isinstance(item, ChatTurn):
                    finished.append(item)
                    yield item.generation
                else:
                    yield item
        finally:  # closed when the client disconnects: stop the model, release the session
            pieces.close()

    return ndjson_stream(chunks(), lambda _: turn_dict(finished[-1]))


@bp.get("/chat/<session_id>", tags=[CHAT_TAG],
        responses={200: ChatHistory, **problem_responses(404, 422, 503)})
def chat_history(path: SessionPath) -> dict[str, Any]:
    """The stored messages of a session, oldest first."""
    service = services().chat()
    messages = service.messages(tenant(), path.session_id)
    total = service.total_messages(tenant(), path.session_id)
    return {
        "session_id": path.session_id,
        "messages": history_dicts(messages),
        "conversation_length": total // 2,
        "messages_exchanged": total,
        "memory_stats": memory_stats(messages),
    }


@bp.delete("/chat/<session_id>", tags=[CHAT_TAG],
           responses={204: None, **problem_responses(404, 422, 503)})
def forget_chat(path: SessionPath) -> tuple[str, int]:
    """Forget a session's history."""
    services().chat().forget(tenant(), path.session_id)
    return "", 204


@bp.post("/chat-semantic", tags=[CHAT_TAG],
         responses={200: SemanticChatResponse, **POST_ERRORS})
def chat_semantic(body: SemanticChatRequest) -> dict[str, Any]:
    """Answer a question, reusing a cached answer to the same or a similar question."""
    response, model, info = services().semantic_chat().answer(tenant(), body.prompt,
                                                              body.params())
    return {"response": response, "model": model, "cache_info": cache_info_dict(info)}


def cache_info_dict(info: CacheInfo) -> dict[str, Any]:
    """``cache_info`` with the documented types on a miss too: ``cache_type`` "none" and
    ``similarity_score`` 0.0 when nothing comparable is cached yet."""
    return {**info.__dict__, "cache_type": info.cache_type or "none",
            "similarity_score": 0.0 if info.similarity_score is None
            else info.similarity_score}


@bp.get("/cache/stats", tags=[CACHE_TAG],
        responses={200: CacheStatsResponse, **problem_responses(503)})
def cache_stats() -> dict[str, Any]:
    """Hits, misses, hit rates, similarity of hits, entries, latency and time saved."""
    return services().semantic_chat().statistics(tenant())


@bp.delete("/cache", tags=[CACHE_TAG],
           responses={200: CacheClearResponse, **problem_responses(422, 503)})
def clear_cache(query: CacheClearQuery) -> dict[str, Any]:
    """Clear the exact cache, the semantic cache, or both (which=all, the default)."""
    return services().semantic_chat().clear(tenant(), query.which)
