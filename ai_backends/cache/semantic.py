"""Semantic cache: answers stored in Redis, found again by meaning through an in-memory index.

Layout in Redis (every key under ``prefix`` with a hash tag, e.g. ``{ai-backends:semantic}:``,
so that in a Redis Cluster they all live in one slot):

- ``entry:<id>``  hash: prompt, response, model, params, scope, embedding (float32 bytes),
  created, last_hit, hits, generation_ms; expires after the TTL.
- ``created``  sorted set id -> creation time (finds entries past their TTL).
- ``usage``    sorted set id -> last hit time (LRU) or hit count (LFU): eviction order.
- ``events``   stream of changes (add/del/clear) with ids 1-0, 2-0, ... from counter ``seq``.

Redis 7 has no vector search, so each process keeps an HNSW index (usearch) of the vectors
per scope. Before a lookup it reads the events it has not seen yet (one round trip, empty
when nothing changed) and applies them, so entries written by other workers become visible
without fetching every vector per request; a gap in the event numbers (the stream is
trimmed) or a reset counter means "reload everything". After a restart the index is rebuilt
from Redis on the first lookup.

The score is cosine similarity (1 = same direction, 0 = unrelated; higher is closer),
computed exactly from the float32 vectors of the index's best candidates. A candidate above
the threshold is served only if the near-miss guard (``nearmiss.py``) finds no difference
in numbers, negation, names, direction, opposites, tense, quantifiers or units, and no
single word swapped for a non-synonym. Callers embed ``phrasing.semantic_text(prompt)``
(acronyms spelled out, explanation requests in one form), not the raw prompt. The scope
(model + generation parameters) is part of every lookup: an answer is never served for
another model or other parameters.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis

from ai_backends.cache.nearmiss import near_miss_reason
from ai_backends.core.redis import REDIS_ERRORS, hash_tagged, store_errors, store_unavailable

log = logging.getLogger(__name__)

DIMENSIONS = 384
CANDIDATES = 8  # nearest entries checked against the threshold and the near-miss guard
EVENT_STREAM_LENGTH = 10_000  # workers further behind than this reload from scratch
LOAD_BATCH = 1000
EVICTION_POLICIES = ("lru", "lfu")
STORE = "semantic cache"

# Numbers events contiguously (stream id = counter value), so a reader can see a gap.
_APPEND_EVENT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'op', ARGV[2], 'ids', ARGV[3])
return seq
"""


@dataclass(frozen=True)
class CachedAnswer:
    """One cached answer as stored in Redis."""

    id: int
    prompt: str
    response: str
    model: str
    params: dict[str, Any]
    created: float
    last_hit: float | None
    hits: int
    generation_ms: float


@dataclass(frozen=True)
class NewEntry:
    """An answer to store: the prompt, its embedding, the answer and its scope."""

    prompt: str
    vector: np.ndarray
    response: str
    model: str
    params: dict[str, Any]
    scope: str
    generation_ms: float


@dataclass
class SemanticLookup:
    """Outcome of a lookup: the answer on a hit, and the best score either way."""

    hit: CachedAnswer | None = None
    score: float | None = None  # best cosine similarity in scope, also on a miss
    nearest_prompt: str | None = None
    near_miss: str | None = None  # why a candidate above the threshold was refused
    search_ms: float = 0.0


@dataclass
class _Meta:
    prompt: str
    created: float
    scope: str
    vector: np.ndarray = field(repr=False)


class _ScopeIndex:
    """HNSW index of the vectors of one scope (model + generation parameters)."""

    def __init__(self) -> None:
        from usearch.index import Index  # compiled extension, imported on first use

        # int8 graph with a modest build effort: on 30k clustered vectors it built 4.7x
        # faster than f16 with expansion_add 128 and still found the true nearest entry among
        # its 8 candidates every time; the scores are recomputed from float32 vectors anyway.
        self.index = Index(ndim=DIMENSIONS, metric="ip", dtype="i8", connectivity=16,
                           expansion_add=64, expansion_search=64)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        self.index.add(np.asarray(ids, dtype=np.uint64), vectors)

    def remove(self, entry_id: int) -> None:
        self.index.remove(entry_id)

    def search(self, vector: np.ndarray, k: int) -> list[int]:
        if len(self.index) == 0:
            return []
        found = self.index.search(vector, min(k, len(self.index)))
        return [int(key) for key in found.keys]


class SemanticCache:
    """Similarity cache of generated answers, persisted in Redis and shared by all workers."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        threshold: float,
        max_entries: int,
        ttl_seconds: int,
        eviction: str = "lru",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if eviction not in EVICTION_POLICIES:
            raise ValueError(f"eviction must be one of {EVICTION_POLICIES}, not {eviction!r}")
        # redis-py's annotations mix sync and async return types; treat replies as Any.
        self.redis: Any = client
        # One hash tag for every key: a transaction and the event script touch several keys,
        # which a Redis Cluster allows only within one slot.
        self.prefix = hash_tagged(prefix)
        self.threshold = threshold
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.eviction = eviction
        self.clock = clock
        self._indexes: dict[str, _ScopeIndex] = {}
        self._meta: dict[int, _Meta] = {}
        self._seen = -1  # last event applied; -1 = nothing loaded yet
        self._lock = threading.RLock()
        self._append_event = client.register_script(_APPEND_EVENT)

    # -- keys ---------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _entry_key(self, entry_id: int) -> str:
        return f"{self.prefix}entry:{entry_id}"

    # -- public interface ---------------------------------------------------------------
    def lookup(self, prompt: str, vector: np.ndarray, scope: str) -> SemanticLookup:
        """Find a cached answer for ``prompt`` (embedded as ``vector``) within ``scope``."""
        try:
            self.sync()
            started = time.perf_counter()
            candidates = self.search(vector, scope)
            result = SemanticLookup(search_ms=(time.perf_counter() - started) * 1000)
            if candidates:
                result.score, result.nearest_prompt = candidates[0][1], candidates[0][2]
            for entry_id, score, cached_prompt in candidates:
                if score < self.threshold:
                    break
                reason = near_miss_reason(prompt, cached_prompt)
                if reason:
                    result.near_miss = result.near_miss or reason
                    continue
                answer = self._record_hit(entry_id)
                if answer is None:  # expired or evicted since our last sync
                    continue
                result.hit, result.score = answer, score
                result.nearest_prompt, result.near_miss = answer.prompt, None
                break
            return result
        except REDIS_ERRORS as exc:
            raise store_unavailable(STORE, exc) from exc

    def search(self, vector: np.ndarray, scope: str, k: int = CANDIDATES
               ) -> list[tuple[int, float, str]]:
        """Nearest live entries of ``scope`` in memory: (id, cosine similarity, prompt)."""
        now = self.clock()
        with self._lock:
            index = self._indexes.get(scope)
            if index is None:
                return []
            ids = [i for i in index.search(vector, k) if i in self._meta]
            metas = [self._meta[i] for i in ids]
        scored = [
            (i, float(np.dot(meta.vector, vector)), meta.prompt)
            for i, meta in zip(ids, metas, strict=True)
            if now - meta.created < self.ttl_seconds
        ]
        return sorted(scored, key=lambda item: -item[1])

    def insert(self, prompt: str, vector: np.ndarray, response: str, model: str,
               params: dict[str, Any], scope: str, generation_ms: float) -> int:
        """Store an answer; evicts expired and surplus entries. Returns the entry id."""
        return self.insert_many([NewEntry(prompt, vector, response, model, params, scope,
                                          generation_ms)])[0]

    def insert_many(self, entries: list[NewEntry]) -> list[int]:
        """Store several answers in one round trip (e.g. to preload a cache); their ids."""
        try:
            last = int(self.redis.incrby(self._key("next-id"), len(entries)))
            ids = list(range(last - len(entries) + 1, last + 1))
            now = self.clock()
            pipe = self.redis.pipeline(transaction=True)
            for entry_id, entry in zip(ids, entries, strict=True):
                vector = np.asarray(entry.vector, dtype=np.float32)
                pipe.hset(self._entry_key(entry_id), mapping={
                    "prompt": entry.prompt, "response": entry.response, "model": entry.model,
                    "params": json.dumps(entry.params, sort_keys=True), "scope": entry.scope,
                    "embedding": vector.tobytes(), "created": now, "hits": 0,
                    "generation_ms": entry.generation_ms,
                })
                pipe.expire(self._entry_key(entry_id), self.ttl_seconds)
            pipe.zadd(self._key("created"), dict.fromkeys(ids, now))
            pipe.zadd(self._key("usage"), dict.fromkeys(ids, self._usage_score(now, 0, now)))
            pipe.execute()
            self._emit("add", ids)
            self.sync()
            self.evict()
            return ids
        except REDIS_ERRORS as exc:
            raise store_unavailable(STORE, exc) from exc

    def evict(self) -> list[int]:
        """Remove entries past their TTL, then the least used ones above ``max_entries``."""
        usage = self._key("usage")
        expired = self.redis.zrangebyscore(self._key("created"), "-inf",
                                           self.clock() - self.ttl_seconds)
        claimed: list[int] = []
        if expired:
            # ZREM tells which worker removed an id first; only that one deletes it.
            pipe = self.redis.pipeline()
            for raw in expired:
                pipe.zrem(usage, raw)
            claimed += [int(raw) for raw, won in zip(expired, pipe.execute(), strict=True) if won]
        excess = int(self.redis.zcard(usage)) - self.max_entries
        if excess > 0:
            claimed += [int(raw) for raw, _ in self.redis.zpopmin(usage, excess)]
        pipe = self.redis.pipeline()
        for raw in expired:
            pipe.zrem(self._key("created"), raw)
        for entry_id in claimed:
            pipe.delete(self._entry_key(entry_id))
            pipe.zrem(self._key("created"), entry_id)
        pipe.execute()
        if claimed:
            self._emit("del", claimed)
            self.sync()
        return claimed

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        try:
            count = self.count()
            ids = self.redis.zrange(self._key("created"), 0, -1)
            pipe = self.redis.pipeline()
            for raw in ids:
                pipe.delete(self._entry_key(int(raw)))
            pipe.delete(self._key("created"))  # one key per DELETE: a cluster pipeline
            pipe.delete(self._key("usage"))  # accepts no multi-key DELETE
            pipe.execute()
            self._emit("clear", [])
            self.sync()
            return count
        except REDIS_ERRORS as exc:
            raise store_unavailable(STORE, exc) from exc

    def count(self) -> int:
        """Entries in the cache (all scopes)."""
        return int(self.redis.zcard(self._key("usage")))

    def count_scopes(self, scope_prefix: str) -> int:
        """Entries whose scope starts with ``scope_prefix`` (e.g. one tenant's)."""
        with store_errors(STORE):
            self.sync()
        with self._lock:
            return sum(meta.scope.startswith(scope_prefix) for meta in self._meta.values())

    def clear_scopes(self, scope_prefix: str) -> int:
        """Remove the entries whose scope starts with ``scope_prefix``; how many there were."""
        with store_errors(STORE):
            self.sync()
            with self._lock:
                ids = [i for i, meta in self._meta.items() if meta.scope.startswith(scope_prefix)]
            if not ids:
                return 0
            pipe = self.redis.pipeline()
            for entry_id in ids:
                pipe.delete(self._entry_key(entry_id))
            pipe.zrem(self._key("created"), *ids)
            pipe.zrem(self._key("usage"), *ids)
            pipe.execute()
            self._emit("del", ids)
            self.sync()
        return len(ids)

    @property
    def indexed(self) -> int:
        """Entries in this process's in-memory index."""
        return len(self._meta)

    # -- keeping the index in step with Redis -------------------------------------------
    def sync(self) -> None:
        """Apply the changes other workers made since the last call (or load everything)."""
        with self._lock:
            if self._seen < 0:
                self._reload()
                return
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(self._key("seq"))
            pipe.xrange(self._key("events"), min=f"({self._seen}-0", max="+")
            current, events = pipe.execute()
            current = int(current or 0)
            if current == self._seen:
                return
            numbers = [int(raw_id.split(b"-")[0]) for raw_id, _ in events]
            if current < self._seen or not numbers or numbers[0] != self._seen + 1:
                self._reload()  # counter reset (data wiped) or events trimmed away
                return
            added: list[int] = []
            for number, (_, fields) in zip(numbers, events, strict=True):
                op = fields[b"op"].decode()
                ids = [int(x) for x in fields[b"ids"].split(b",") if x]
                if op == "add":
                    added += [i for i in ids if i not in self._meta]
                elif op == "del":
                    self._forget(ids)
                    added = [i for i in added if i not in ids]
                elif op == "clear":
                    self._forget(list(self._meta))
                    added = []
                self._seen = number
            self._load(added)

    def _reload(self) -> None:
        self._indexes.clear()
        self._meta.clear()
        seen = int(self.redis.get(self._key("seq")) or 0)
        ids = [int(raw) for raw in self.redis.zrange(self._key("created"), 0, -1)]
        self._load(ids)
        self._seen = seen

    def _load(self, ids: list[int]) -> None:
        fields = ("scope", "prompt", "created", "embedding")
        for start in range(0, len(ids), LOAD_BATCH):
            chunk = ids[start:start + LOAD_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for entry_id in chunk:
                pipe.hmget(self._entry_key(entry_id), fields)
            by_scope: dict[str, list[tuple[int, np.ndarray]]] = {}
            for entry_id, values in zip(chunk, pipe.execute(), strict=True):
                if values[0] is None or entry_id in self._meta:
                    continue  # expired or deleted meanwhile
                scope = values[0].decode()
                vector = np.frombuffer(values[3], dtype=np.float32)
                self._meta[entry_id] = _Meta(values[1].decode(), float(values[2]), scope, vector)
                by_scope.setdefault(scope, []).append((entry_id, vector))
            for scope, items in by_scope.items():
                index = self._indexes.setdefault(scope, _ScopeIndex())
                index.add([i for i, _ in items], np.stack([v for _, v in items]))

    def _forget(self, ids: list[int]) -> None:
        for entry_id in ids:
            meta = self._meta.pop(entry_id, None)
            if meta is not None:
                self._indexes[meta.scope].remove(entry_id)

    def _emit(self, op: str, ids: list[int]) -> None:
        self._append_event(keys=[self._key("seq"), self._key("events")],
                           args=[EVENT_STREAM_LENGTH, op, ",".join(map(str, ids))])

    # -- hits ---------------------------------------------------------------------------
    def _usage_score(self, now: float, hits: int, created: float) -> float:
        if self.eviction == "lru":
            return now
        # LFU: fewest hits first; among equal counts the older entry (fraction < 1) first.
        return hits + created / 1e11

    def _record_hit(self, entry_id: int) -> CachedAnswer | None:
        key = self._entry_key(entry_id)
        now = self.clock()
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(key)
        pipe.hincrby(key, "hits", 1)
        pipe.hset(key, "last_hit", now)
        pipe.hgetall(key)
        exists, hits, _, values = pipe.execute()
        if not exists:
            self.redis.delete(key)  # HINCRBY just re-created an empty hash
            return None
        answer = self._answer(entry_id, values)
        if answer is not None:
            self.redis.zadd(self._key("usage"),
                            {entry_id: self._usage_score(now, int(hits), answer.created)},
                            xx=True)
        return answer

    @staticmethod
    def _answer(entry_id: int, values: dict[bytes, bytes]) -> CachedAnswer | None:
        if not values or b"response" not in values:
            return None
        last_hit = values.get(b"last_hit")
        return CachedAnswer(
            id=entry_id,
            prompt=values[b"prompt"].decode(),
            response=values[b"response"].decode(),
            model=values[b"model"].decode(),
            params=json.loads(values[b"params"]),
            created=float(values[b"created"]),
            last_hit=float(last_hit) if last_hit else None,
            hits=int(values.get(b"hits", 0)),
            generation_ms=float(values.get(b"generation_ms", 0.0)),
        )


def scope_of(model: str, params: dict[str, Any]) -> str:
    """Cache scope: the model and every generation parameter, in a stable text form."""
    return f"{model}|{json.dumps(params, sort_keys=True, separators=(',', ':'))}"
