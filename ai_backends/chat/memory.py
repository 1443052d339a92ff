"""Chat with memory: per-session history in Redis, kept with LangChain's message primitives.

- ``RedisChatHistory`` is a ``langchain_core`` ``BaseChatMessageHistory``: messages are
  stored as LangChain message dicts in a Redis list, so the history survives an API restart
  and every worker sees the same conversation. Only the most recent turns are kept, and the
  session expires after a period without messages (both configurable).
- ``ChatService.chat`` holds a per-session Redis lock from reading the history to appending
  the answer, so two requests on one session run one after the other: nothing is lost and
  no two turns interleave. Other sessions are not blocked.
- Every session belongs to a tenant (``core/tenancy.py``): its keys carry the tenant, so a
  tenant that names another tenant's session id finds nothing (404) and cannot delete it.
- Bounded: a session expires ``ttl_seconds`` after its last message, holds at most
  ``2 * turns`` messages, and a tenant keeps at most ``max_sessions``; beyond that its least
  recently active session is forgotten (a sorted set per tenant, by last activity).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    messages_from_dict,
    messages_to_dict,
    trim_messages,
)

from ai_backends.chat.prompts import CHAT_SYSTEM_PROMPT
from ai_backends.core.errors import Conflict, InvalidInput, NotFound
from ai_backends.core.redis import REDIS_ERRORS, store_errors
from ai_backends.llm import Generation, GenerationParams

if TYPE_CHECKING:
    from ai_backends.llm import LLMService

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)
LOCK_WAIT_SECONDS = 60.0  # default wait of a second request on a busy session
STORE = "chat memory"


def check_session_id(session_id: str) -> str:
    """Return ``session_id`` if it is 8-64 letters, digits, '-' or '_'; else InvalidInput."""
    if not _SESSION_ID.match(session_id):
        raise InvalidInput(
            "invalid session_id: use 8 to 64 letters, digits, '-' or '_'",
            errors=[{"field": "session_id", "message": "8-64 characters of [A-Za-z0-9_-]",
                     "type": "string_pattern_mismatch"}])
    return session_id


def new_session_id() -> str:
    """A fresh random session id (32 hex digits)."""
    return uuid.uuid4().hex


class RedisChatHistory(BaseChatMessageHistory):
    """The messages of one session in a Redis list, bounded and expiring after inactivity."""

    def __init__(self, client: redis.Redis, key: str, max_messages: int, ttl_seconds: int
                 ) -> None:
        self.client = client
        self.key = key
        self.max_messages = max_messages
        self.ttl_seconds = ttl_seconds

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The stored messages, oldest first."""
        raw = self.client.lrange(self.key, 0, -1)
        return messages_from_dict([json.loads(item) for item in raw])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one transaction, drop the oldest beyond the window, renew TTL."""
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(self.key, *[json.dumps(d) for d in messages_to_dict(list(messages))])
        pipe.ltrim(self.key, -self.max_messages, -1)
        pipe.expire(self.key, self.ttl_seconds)
        pipe.hincrby(f"{self.key}:meta", "total_messages", len(messages))
        pipe.expire(f"{self.key}:meta", self.ttl_seconds)
        pipe.execute()

    def total_messages(self) -> int:
        """Messages ever added to this session (the stored window may hold fewer)."""
        return int(self.client.hget(f"{self.key}:meta", "total_messages") or 0)

    def exists(self) -> bool:
        """True when the session has messages in Redis."""
        return bool(self.client.exists(self.key))

    def clear(self) -> None:
        """Forget the session."""
        self.client.delete(self.key, f"{self.key}:meta")


@dataclass(frozen=True)
class ChatTurn:
    """The answer to one chat message and the state of its session afterwards."""

    response: str
    session_id: str
    conversation_length: int  # messages exchanged in the session so far
    memory: dict[str, int]  # what the stored window holds now
    generation: Generation


def memory_stats(messages: list[BaseMessage]) -> dict[str, int]:
    """Counts of the stored messages by role."""
    return {
        "total_messages": len(messages),
        "human_messages": sum(isinstance(m, HumanMessage) for m in messages),
        "ai_messages": sum(isinstance(m, AIMessage) for m in messages),
    }


class ChatService:
    """Answers chat messages with the LLM, remembering each session's recent turns."""

    def __init__(self, client: redis.Redis, llm: LLMService, prefix: str, turns: int,
                 ttl_seconds: int, history_tokens: int,
                 lock_wait_seconds: float = LOCK_WAIT_SECONDS, max_sessions: int = 0) -> None:
        # redis-py's annotations mix sync and async return types; treat replies as Any.
        self.redis: Any = client
        self.max_sessions = max_sessions  # per tenant; 0: only the TTL bounds them
        self.llm = llm
        self.prefix = prefix
        self.turns = turns
        self.ttl_seconds = ttl_seconds
        self.history_tokens = history_tokens
        self.lock_wait_seconds = lock_wait_seconds
        # The lock frees itself after this long even if its worker died mid-turn; a live
        # turn ends before (it waits for the model, then generates, each within the wait).
        self.lock_seconds = int(2 * lock_wait_seconds + 30)

    def session_key(self, tenant: str, session_id: str) -> str:
        """The Redis key of a tenant's session (its meta and lock keys append to it)."""
        return f"{self.prefix}{{{tenant}}}:{check_session_id(session_id)}"

    def sessions_key(self, tenant: str) -> str:
        """The sorted set of a tenant's sessions by last activity."""
        # The tenant is the hash tag: a session, its meta and lock keys and the tenant's
        # session index share one Redis Cluster slot, so dropping the least active session
        # (one multi-key DELETE) never crosses slots.
        return f"{self.prefix}{{{tenant}}}:#sessions"

    def history_of(self, tenant: str, session_id: str) -> RedisChatHistory:
        """The stored history of a (validated) session of ``tenant``."""
        return RedisChatHistory(self.redis, self.session_key(tenant, session_id),
                                2 * self.turns, self.ttl_seconds)

    def chat(self, tenant: str, prompt: str, session_id: str | None, params: GenerationParams
             ) -> ChatTurn:
        """Answer ``prompt`` in the context of the session (a new one when id is None)."""
        session_id = session_id or new_session_id()
        history = self.history_of(tenant, session_id)
        with self._session_lock(history):
            messages = self._context(history, prompt)
            generation = self.llm.generate(messages, params)
            return self._remember(tenant, history, session_id, prompt, generation)

    def chat_stream(self, tenant: str, prompt: str, session_id: str | None,
                    params: GenerationParams
                    ) -> tuple[str, Generator[str | ChatTurn, None, None]]:
        """Like ``chat`` but yields text pieces, then the ChatTurn; returns the session id."""
        session_id = session_id or new_session_id()
        history = self.history_of(tenant, session_id)

        def pieces() -> Generator[str | ChatTurn, None, None]:
            with self._session_lock(history):  # held until the stream ends or is closed
                source = self.llm.stream(self._context(history, prompt), params)
                try:
                    for item in source:
                        if isinstance(item, Generation):
                            yield self._remember(tenant, history, session_id, prompt, item)
                        else:
                            yield item
                finally:  # a client that leaves stops the generation and frees the session
                    close = getattr(source, "close", None)
                    if close is not None:
                        close()

        return session_id, pieces()

    def messages(self, tenant: str, session_id: str) -> list[BaseMessage]:
        """The stored history of a tenant's session; NotFound when there is none."""
        history = self.history_of(tenant, session_id)
        with store_errors(STORE):
            messages = history.messages
        if not messages:
            raise NotFound(f"no chat session {session_id!r} (never started, or expired)")
        return messages

    def total_messages(self, tenant: str, session_id: str) -> int:
        """Messages exchanged in the session so far."""
        with store_errors(STORE):
            return self.history_of(tenant, session_id).total_messages()

    def forget(self, tenant: str, session_id: str) -> None:
        """Delete a tenant's session; NotFound when there is none."""
        history = self.history_of(tenant, session_id)
        with store_errors(STORE):
            if not history.exists():
                raise NotFound(f"no chat session {session_id!r} (never started, or expired)")
            history.clear()
            self.redis.zrem(self.sessions_key(tenant), session_id)

    def session_count(self, tenant: str) -> int:
        """Sessions the tenant holds now (active within the TTL)."""
        with store_errors(STORE):
            return int(self.redis.zcount(self.sessions_key(tenant),
                                         time.time() - self.ttl_seconds, "+inf"))

    def _context(self, history: RedisChatHistory, prompt: str) -> list[BaseMessage]:
        """System prompt, the recent turns that fit the token budget, the new message."""
        with store_errors(STORE):
            past = history.messages
        recent = trim_messages(past, max_tokens=self.history_tokens,
                               token_counter="approximate", strategy="last",
                               start_on="human", end_on="ai")
        return [SystemMessage(content=CHAT_SYSTEM_PROMPT), *recent,
                HumanMessage(content=prompt)]

    def _remember(self, tenant: str, history: RedisChatHistory, session_id: str, prompt: str,
                  generation: Generation) -> ChatTurn:
        answer = AIMessage(content=generation.text,
                           response_metadata={"model": generation.model,
                                              "backend": generation.backend})
        with store_errors(STORE):
            history.add_messages([HumanMessage(content=prompt), answer])
            self._track(tenant, session_id)
            stored = history.messages
            total = history.total_messages()
        return ChatTurn(generation.text, session_id, total, memory_stats(stored), generation)

    def _track(self, tenant: str, session_id: str) -> None:
        """Note the session's activity; forget the tenant's least active beyond the cap."""
        index, now = self.sessions_key(tenant), time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(index, {session_id: now})
        pipe.zremrangebyscore(index, "-inf", now - self.ttl_seconds)  # expired by themselves
        pipe.expire(index, self.ttl_seconds)
        pipe.zcard(index)
        excess = int(pipe.execute()[-1]) - self.max_sessions
        if self.max_sessions <= 0 or excess <= 0:
            return
        dropped = [raw.decode() for raw, _ in self.redis.zpopmin(index, excess)]
        keys = [self.session_key(tenant, sid) for sid in dropped]
        self.redis.delete(*keys, *(f"{key}:meta" for key in keys))

    @contextmanager
    def _session_lock(self, history: RedisChatHistory) -> Iterator[None]:
        lock = self.redis.lock(f"{history.key}:lock", timeout=self.lock_seconds,
                               blocking_timeout=self.lock_wait_seconds)
        with store_errors(STORE):
            acquired = lock.acquire()
        if not acquired:
            session_id = history.key.rsplit(":", 1)[-1]
            raise Conflict(f"session {session_id!r} is busy with another message; retry")
        try:
            yield
        finally:
            try:
                lock.release()
            except REDIS_ERRORS:  # expired or Redis gone: it frees itself after timeout
                pass


def history_dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages as ``{role, content}`` for the API."""
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    return [{"role": roles.get(m.type, m.type), "content": m.content} for m in messages]
