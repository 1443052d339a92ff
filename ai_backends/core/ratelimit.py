"""Per-client rate limits in Redis (fixed one-minute windows), shared by every worker.

Redis trouble never blocks a request: the limiter then lets requests through and logs it,
because refusing generation while the limiter's store is down would turn a cache outage
into a full outage of the LLM endpoints.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis

from ai_backends.core.redis import REDIS_ERRORS

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


class RateLimiter:
    """Allows ``limit`` requests per client per minute; 0 disables it."""

    def __init__(self, client: redis.Redis | None, prefix: str, limit: int) -> None:
        self.client = client
        self.prefix = prefix
        self.limit = limit

    def hit(self, scope: str, client_id: str) -> int | None:
        """Count one request; None when allowed, else the seconds until the window resets."""
        if self.limit <= 0 or self.client is None:
            return None
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        digest = hashlib.sha256(client_id.encode()).hexdigest()[:16]  # no raw keys in Redis
        key = f"{self.prefix}ratelimit:{scope}:{digest}:{window}"
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
            count = int(pipe.execute()[0])
        except REDIS_ERRORS as exc:
            log.warning("rate limiter unavailable, allowing request: %s", exc)
            return None
        if count <= self.limit:
            return None
        return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
