"""Cache analytics kept in one Redis hash, so every worker counts into the same numbers.

Counted per chat-semantic request: which tier answered (exact, semantic, none), the best
similarity, how long the request took, and how long the cached answer originally took to
generate (the time a hit saved). Counters are kept per owner (a tenant, or the shared
scope when tenants share the chat caches): one hash per owner.
"""

from __future__ import annotations

from typing import Any

import redis

from ai_backends.core.redis import REDIS_ERRORS, store_errors

OUTCOMES = ("exact_hit", "semantic_hit", "miss")


class CacheStats:
    """Hit/miss counters and latency sums of the chat caches, in a Redis hash."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        # redis-py's annotations mix sync and async return types; treat replies as Any.
        self.redis: Any = client
        self.key = key

    def key_of(self, owner: str) -> str:
        """The hash of one owner's counters."""
        return f"{self.key}:{owner}"

    def record(self, owner: str, outcome: str, latency_ms: float,
               similarity: float | None = None, near_miss: bool = False,
               saved_ms: float = 0.0) -> None:
        """Count one request; failures are ignored (analytics never fail a request)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        key = self.key_of(owner)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(key, f"{outcome}_count", 1)
        pipe.hincrbyfloat(key, f"{outcome}_latency_ms", latency_ms)
        if outcome == "semantic_hit" and similarity is not None:
            pipe.hincrbyfloat(key, "semantic_hit_similarity", similarity)
        if near_miss:
            pipe.hincrby(key, "near_miss_count", 1)
        if saved_ms > 0:
            pipe.hincrbyfloat(key, "time_saved_ms", saved_ms)
        try:
            pipe.execute()
        except REDIS_ERRORS:
            pass

    def snapshot(self, owner: str) -> dict[str, float]:
        """The raw counters of ``owner``."""
        with store_errors("cache statistics"):
            raw = self.redis.hgetall(self.key_of(owner))
        return {k.decode(): float(v) for k, v in raw.items()}

    def reset(self, owner: str) -> None:
        """Start counting ``owner``'s requests from zero."""
        self.redis.delete(self.key_of(owner))


def summarize(counters: dict[str, float], exact_entries: int, semantic_entries: int,
              settings: dict[str, Any]) -> dict[str, Any]:
    """The /cache/stats body from the raw counters."""
    def count(name: str) -> int:
        return int(counters.get(f"{name}_count", 0))

    def mean(total: float, n: int) -> float | None:
        return round(total / n, 2) if n else None

    exact_hits, semantic_hits, misses = count("exact_hit"), count("semantic_hit"), count("miss")
    lookups = exact_hits + semantic_hits + misses
    semantic_lookups = semantic_hits + misses  # exact hits never reach the semantic tier
    hit_latency = counters.get("exact_hit_latency_ms", 0) + counters.get(
        "semantic_hit_latency_ms", 0)
    return {
        "requests": lookups,
        "hit_rate": round((exact_hits + semantic_hits) / lookups, 4) if lookups else None,
        "exact": {
            "hits": exact_hits,
            "misses": semantic_hits + misses,
            "hit_rate": round(exact_hits / lookups, 4) if lookups else None,
            "entries": exact_entries,
        },
        "semantic": {
            "hits": semantic_hits,
            "misses": misses,
            "near_misses": int(counters.get("near_miss_count", 0)),
            "hit_rate": round(semantic_hits / semantic_lookups, 4) if semantic_lookups
            else None,
            "mean_similarity_of_hits": (
                round(counters.get("semantic_hit_similarity", 0) / semantic_hits, 4)
                if semantic_hits else None),
            "entries": semantic_entries,
            **settings,
        },
        "latency_ms": {
            "mean_hit": mean(hit_latency, exact_hits + semantic_hits),
            "mean_exact_hit": mean(counters.get("exact_hit_latency_ms", 0), exact_hits),
            "mean_semantic_hit": mean(counters.get("semantic_hit_latency_ms", 0),
                                      semantic_hits),
            "mean_miss": mean(counters.get("miss_latency_ms", 0), misses),
        },
        "time_saved_ms": round(counters.get("time_saved_ms", 0), 1),
    }
