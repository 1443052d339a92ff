"""Per-client rate limits in Redis (fixed one-minute windows), shared by every worker.

Each scope (``llm``, ``benchmark``) has its own budget per client and minute. A window's
counter expires two windows after it starts, so the limiter holds at most two keys per
client and scope; clients are tenants or addresses (``api/auth.py: identity``), never a
made-up key, so their number does not grow with what clients send.

Redis trouble never blocks a request: the limiter then lets requests through and logs it,
because refusing generation while the limiter's store is down would turn a cache outage
into a full outage of the LLM endpoints.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping

import redis

from ai_backends.core.redis import REDIS_ERRORS

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


class RateLimiter:
    """Allows ``limit`` requests per client per minute (per scope in ``limits``); 0: off."""

    def __init__(self, client: redis.Redis | None, prefix: str, limit: int,
                 limits: Mapping[str, int] | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.limit = limit
        self.limits = dict(limits or {})

    def limit_of(self, scope: str) -> int:
        """Requests a client may make per minute in ``scope``."""
        return self.limits.get(scope, self.limit)

    def key(self, scope: str, client_id: str, window: int) -> str:
        """The counter of one client in one scope and window (no raw identity in Redis)."""
        digest = hashlib.sha256(client_id.encode()).hexdigest()[:16]
        return f"{self.prefix}ratelimit:{scope}:{digest}:{window}"

    def hit(self, scope: str, client_id: str) -> int | None:
        """Count one request; None when allowed, else the seconds until the window resets."""
        limit = self.limit_of(scope)
        if limit <= 0 or self.client is None:
            return None
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = self.key(scope, client_id, window)
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
            count = int(pipe.execute()[0])
        except REDIS_ERRORS as exc:
            log.warning("rate limiter unavailable, allowing request: %s", exc)
            return None
        if count <= limit:
            return None
        return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
