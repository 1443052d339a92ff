"""Single-turn answers served through two caches: exact first, then semantic, then the LLM.

``SemanticChatService.answer`` is what ``POST /api/v1/chat-semantic`` calls. Both caches are
scoped by model and generation parameters. The caches are an optimisation: when Redis or
the embedding model fails, the question still goes to the LLM and ``cache_info`` says the
cache was unavailable. Every request is counted in ``CacheStats``.

Tenants: each tenant has its own caches and statistics (the owner is part of every key and
every semantic scope, so a lookup never sees another tenant's entries). With
``shared=True`` every tenant uses the one shared owner; then a semantic hit does not show
the cached prompt (it may be another tenant's) and an exact hit shows the asker's own.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ai_backends.cache.embeddings import Embedder
from ai_backends.cache.exact import ExactCache
from ai_backends.cache.phrasing import semantic_text
from ai_backends.cache.semantic import SemanticCache, SemanticLookup, scope_of
from ai_backends.cache.stats import CacheStats, summarize
from ai_backends.chat.prompts import SEMANTIC_CHAT_SYSTEM_PROMPT
from ai_backends.core import metrics
from ai_backends.core.errors import Unavailable
from ai_backends.core.redis import store_errors
from ai_backends.core.tenancy import SHARED_SCOPE
from ai_backends.llm import Generation, GenerationParams

if TYPE_CHECKING:
    from ai_backends.llm import LLMService

log = logging.getLogger(__name__)


@dataclass
class CacheInfo:
    """How a chat-semantic answer was found (the ``cache_info`` of the response)."""

    cache_hit: bool
    cache_type: str | None  # "exact", "semantic" or None on a miss
    similarity_score: float | None  # cosine similarity of the best candidate, hit or miss
    matched_prompt: str | None
    threshold: float
    response_time_ms: float
    near_miss: str | None = None  # why a close candidate was refused
    embedding_ms: float | None = None
    search_ms: float | None = None
    cache_available: bool = True


def normalize_prompt(prompt: str) -> str:
    """The exact-cache form of a prompt: case and runs of whitespace do not matter."""
    return " ".join(prompt.split()).casefold()


def exact_key(owner: str, scope: str, prompt: str) -> str:
    """Exact-cache key of a prompt within an owner's scope: ``<owner>:<sha256>``."""
    digest = hashlib.sha256(f"{scope}\n{normalize_prompt(prompt)}".encode()).hexdigest()
    return f"{owner}:{digest}"


def semantic_scope(owner: str, scope: str) -> str:
    """Semantic-cache scope of an owner: entries of other owners are never candidates."""
    return f"{owner}|{scope}"


class SemanticChatService:
    """Answers a question from the exact cache, the semantic cache or the LLM."""

    def __init__(self, llm: LLMService, embedder: Embedder, exact: ExactCache,
                 semantic: SemanticCache, stats: CacheStats, shared: bool = False) -> None:
        self.llm = llm
        self.embedder = embedder
        self.exact = exact
        self.semantic = semantic
        self.stats = stats
        self.shared = shared

    def owner(self, tenant: str) -> str:
        """Whose caches and statistics ``tenant`` uses: its own, or the shared ones."""
        return SHARED_SCOPE if self.shared else tenant

    def answer(self, tenant: str, prompt: str, params: GenerationParams
               ) -> tuple[str, str, CacheInfo]:
        """Return (response, model, cache_info) for ``tenant``'s ``prompt``."""
        started = time.perf_counter()
        owner = self.owner(tenant)
        model = self.llm.model
        params_dict = asdict(params)
        scope = semantic_scope(owner, scope_of(model, params_dict))
        key = exact_key(owner, scope, prompt)
        info = CacheInfo(False, None, None, None, self.semantic.threshold, 0.0)

        found = self.exact.lookup([key])[0]
        if isinstance(found, dict) and "response" in found:
            info.cache_hit, info.cache_type = True, "exact"
            info.similarity_score = 1.0
            info.matched_prompt = prompt if self.shared else found["prompt"]
            return self._done(owner, found["response"], model, info, started,
                              float(found.get("generation_ms", 0)))
        info.cache_available = self.exact.available

        vector = None
        try:
            embed_started = time.perf_counter()
            vector = self.embedder.embed_one(semantic_text(prompt))
            info.embedding_ms = round((time.perf_counter() - embed_started) * 1000, 3)
            lookup = self.semantic.lookup(prompt, vector, scope)
        except Unavailable as exc:
            log.warning("semantic cache unavailable, asking the LLM: %s", exc.detail)
            info.cache_available = False
            lookup = SemanticLookup()
        except Exception:  # a broken embedding model must not cost the user the answer
            log.exception("semantic cache failed, asking the LLM")
            info.cache_available, vector = False, None
            lookup = SemanticLookup()
        metrics.CACHE_LOOKUPS.labels("chat-semantic",
                                     "miss" if lookup.hit is None else "hit").inc()
        info.search_ms = round(lookup.search_ms, 3)
        info.similarity_score = _rounded(lookup.score)
        info.near_miss = lookup.near_miss
        if lookup.hit is not None:
            info.cache_hit, info.cache_type = True, "semantic"
            # Shared caches: the matched prompt may be another tenant's, so it is not shown.
            info.matched_prompt = None if self.shared else lookup.hit.prompt
            return self._done(owner, lookup.hit.response, model, info, started,
                              lookup.hit.generation_ms)

        generation = self.llm.generate(self._messages(prompt), params)
        self._store(prompt, key, vector, scope, params_dict, generation)
        return self._done(owner, generation.text, generation.model, info, started, 0.0)

    def statistics(self, tenant: str) -> dict[str, Any]:
        """``tenant``'s hits, misses, hit rates, similarity, entries, latency, time saved."""
        owner = self.owner(tenant)
        counters = self.stats.snapshot(owner)
        with store_errors("cache"):
            exact_entries = self.exact.count(under=f"{owner}:")
            semantic_entries = self.semantic.count_scopes(semantic_scope(owner, ""))
        settings = {"threshold": self.semantic.threshold,
                    "max_entries": self.semantic.max_entries,
                    "ttl_seconds": self.semantic.ttl_seconds,
                    "eviction": self.semantic.eviction}
        return summarize(counters, exact_entries, semantic_entries, settings)

    def clear(self, tenant: str, which: str) -> dict[str, Any]:
        """Empty ``tenant``'s exact cache, semantic cache or both (``all`` also resets stats)."""
        owner = self.owner(tenant)
        cleared: dict[str, Any] = {}
        with store_errors("cache"):
            if which in ("exact", "all"):
                cleared["exact"] = self.exact.clear(under=f"{owner}:")
            if which in ("semantic", "all"):
                cleared["semantic"] = self.semantic.clear_scopes(semantic_scope(owner, ""))
            if which == "all":
                self.stats.reset(owner)
        return {"cleared": cleared, "which": which}

    def _messages(self, prompt: str) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        return [SystemMessage(content=SEMANTIC_CHAT_SYSTEM_PROMPT), HumanMessage(content=prompt)]

    def _store(self, prompt: str, key: str, vector: Any, scope: str, params: dict[str, Any],
               generation: Generation) -> None:
        self.exact.insert({key: {"prompt": prompt, "response": generation.text,
                                 "generation_ms": generation.latency_ms}})
        if vector is None:
            return
        try:
            self.semantic.insert(prompt, vector, generation.text, generation.model, params,
                                 scope, generation.latency_ms)
        except Unavailable as exc:
            log.warning("answer not stored in the semantic cache: %s", exc.detail)

    def _done(self, owner: str, response: str, model: str, info: CacheInfo, started: float,
              original_ms: float) -> tuple[str, str, CacheInfo]:
        info.response_time_ms = round((time.perf_counter() - started) * 1000, 2)
        outcome = {"exact": "exact_hit", "semantic": "semantic_hit"}.get(
            info.cache_type or "", "miss")
        saved = max(0.0, original_ms - info.response_time_ms) if info.cache_hit else 0.0
        self.stats.record(owner, outcome, info.response_time_ms, info.similarity_score,
                          near_miss=info.near_miss is not None, saved_ms=saved)
        return response, model, info


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
