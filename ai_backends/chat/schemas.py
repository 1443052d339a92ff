"""Requests and responses of the chat, chat-semantic and cache-analytics endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ai_backends.chat.memory import SESSION_ID_PATTERN
from ai_backends.llm.schemas import MAX_PROMPT_CHARS, NDJSON_RESPONSE, GenerationOptions, PromptText

SESSION_ID_DESCRIPTION = "8-64 letters, digits, '-' or '_'"


class ChatRequest(GenerationOptions):
    """A message in a conversation; without session_id a new conversation starts."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"prompt": "My name is Ada. What is a good first programming language?",
                      "session_id": "demo-session-1", "max_tokens": 64}]})

    prompt: PromptText = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    session_id: str | None = Field(None, pattern=SESSION_ID_PATTERN,
                                   description=f"{SESSION_ID_DESCRIPTION}; omit to start a "
                                               "new session (its id comes back)")
    stream: bool = Field(False, description="Stream NDJSON lines ({token} ..., then {done})")



class MemoryStats(BaseModel):
    """What the session's stored window holds now."""

    total_messages: int
    human_messages: int
    ai_messages: int


class ChatResponse(BaseModel):
    """The answer and the state of the conversation."""

    model_config = ConfigDict(openapi_extra=NDJSON_RESPONSE)  # type: ignore[typeddict-unknown-key]

    response: str
    session_id: str
    conversation_length: int = Field(description="Exchanges (a message and its answer) in "
                                                 "this session so far: 1 after the first")
    messages_exchanged: int = Field(description="Messages in this session so far, both "
                                                "sides (the stored window may hold fewer)")
    memory_stats: MemoryStats
    model: str
    backend: str
    latency_ms: float


class SessionPath(BaseModel):
    """A chat session in the URL."""

    session_id: str = Field(pattern=SESSION_ID_PATTERN, description=SESSION_ID_DESCRIPTION)


class ChatMessage(BaseModel):
    """One stored message."""

    role: Literal["user", "assistant", "system"]
    content: str


class ChatHistory(BaseModel):
    """The stored messages of a session, oldest first."""

    session_id: str
    messages: list[ChatMessage]
    conversation_length: int = Field(description="Exchanges so far (message + answer)")
    messages_exchanged: int = Field(description="Messages so far, both sides")
    memory_stats: MemoryStats


class SemanticChatRequest(GenerationOptions):
    """A single question answered through the exact and semantic caches."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"prompt": "What is artificial intelligence?", "max_tokens": 64,
                      "temperature": 0}]})

    prompt: PromptText = Field(min_length=1, max_length=MAX_PROMPT_CHARS)



class CacheInfo(BaseModel):
    """How the answer was found."""

    cache_hit: bool
    cache_type: Literal["exact", "semantic", "none"] = Field(
        description="exact (same text), semantic (similar meaning) or none (a miss)")
    similarity_score: float = Field(
        description="Cosine similarity (-1..1, higher = closer) of the nearest cached prompt "
                    "of the same model and parameters; reported on misses too, 0.0 when "
                    "nothing comparable is cached")
    matched_prompt: str | None = Field(description="The cached prompt whose answer was served")
    threshold: float = Field(description="Similarity from which a semantic hit is allowed")
    response_time_ms: float
    near_miss: str | None = Field(
        None, description="Why a cached prompt above the threshold was not served "
                          "(numbers, negation, names or direction differ)")
    embedding_ms: float | None = None
    search_ms: float | None = None
    cache_available: bool = Field(True, description="False when the cache store failed and "
                                                    "the LLM answered directly")


class SemanticChatResponse(BaseModel):
    """An answer, from a cache or freshly generated."""

    response: str
    model: str
    cache_info: CacheInfo


class ExactStats(BaseModel):
    """The exact tier (same prompt text, case and spacing ignored)."""

    hits: int
    misses: int
    hit_rate: float | None
    entries: int


class SemanticStats(BaseModel):
    """The semantic tier (similar prompts)."""

    hits: int
    misses: int
    near_misses: int = Field(description="Misses where a candidate above the threshold was "
                                         "refused by the near-miss guard")
    hit_rate: float | None
    mean_similarity_of_hits: float | None
    entries: int
    threshold: float
    max_entries: int
    ttl_seconds: int
    eviction: str


class LatencyStats(BaseModel):
    """Mean response time of chat-semantic requests by outcome."""

    mean_hit: float | None
    mean_exact_hit: float | None
    mean_semantic_hit: float | None
    mean_miss: float | None


class CacheStatsResponse(BaseModel):
    """Cache analytics, counted across all workers."""

    requests: int
    hit_rate: float | None
    exact: ExactStats
    semantic: SemanticStats
    latency_ms: LatencyStats
    time_saved_ms: float = Field(description="Sum over hits of (original generation time - "
                                             "time to serve the hit)")


class CacheClearQuery(BaseModel):
    """Which cache to clear."""

    which: Literal["exact", "semantic", "all"] = Field(
        "all", description="exact, semantic or all (all also resets the statistics)")


class CacheClearResponse(BaseModel):
    """What was removed."""

    which: str
    cleared: dict[str, int] = Field(description="Entries removed per cache")
