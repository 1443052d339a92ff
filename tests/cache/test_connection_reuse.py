"""Redis connections of the exact cache go back when their thread ends.

A thread-per-request server (``python app.py``) used to leave one pool connection behind per
request: after the pool's 100 the cache stats and ``DELETE /api/v1/cache`` answered 503 "Too
many connections" and the classify cache silently became all misses.
"""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis
import requests

from ai_backends.cache.exact import ExactCache
from ai_backends.core.redis import connect
from tests.conftest import free_port
from tests.servers import running

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
THREADS = 300  # three times the pool's 100 connections


@pytest.mark.integration
def test_short_lived_threads_return_their_connections(redis_url: str) -> None:
    client = connect(redis_url)
    cache = ExactCache("classify", client, f"conn-{uuid.uuid4().hex[:8]}:", ttl=60)
    cache.insert({"k": {"v": 1}})
    found: list[object] = []
    for _ in range(THREADS):  # one after another, like requests on the development server
        thread = threading.Thread(target=lambda: found.append(cache.lookup(["k"])[0]))
        thread.start()
        thread.join()
    assert found == [{"v": 1}] * THREADS  # every thread had a working connection: all hits
    pool = client.connection_pool
    assert len(pool._in_use_connections) <= 1  # type: ignore[attr-defined]
    assert cache.count() == 1  # the client's own commands still get a connection
    assert cache.clear() == 1


@pytest.mark.integration
@pytest.mark.slow
def test_the_development_server_keeps_its_cache_after_many_requests(
        tmp_path: Path, model_dir: Path) -> None:
    # A Redis of its own, fresh: it does not hold the capped insert's script yet (a server
    # other tests used would, and hide an insert that never loads it), and the test may
    # flush its scripts.
    from ai_backends.core import redis as embedded

    redis_url = embedded.embedded_redis_url(tmp_path / "redis")
    assert redis_url
    server = embedded._servers.pop(str(tmp_path / "redis" / "embedded-redis.db"))
    port = free_port()
    prefix = f"devserver-{uuid.uuid4().hex[:8]}:"
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(tmp_path), "REDIS_URL": redis_url,
           "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "WARNING", "PORT": str(port),
           "HTTP_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{free_port()}"}
    base = f"http://127.0.0.1:{port}"
    try:
        with running([sys.executable, "app.py"], env, f"{base}/health"):
            for _ in range(THREADS):  # no keep-alive: one thread of the server per request
                assert requests.post(f"{base}/api/v1/classify", json=FLOWER,
                                     headers={"Connection": "close"}, timeout=10).status_code == 200
            last = requests.post(f"{base}/api/v1/classify", json=FLOWER, timeout=10)
            assert last.json()["cache_hit"] is True
            assert requests.get(f"{base}/api/v1/cache/stats", timeout=10).status_code == 200
            assert requests.delete(f"{base}/api/v1/cache", timeout=10).status_code == 200
            # Redis forgets its scripts (as after a restart): the cache still fills again.
            redis.Redis.from_url(redis_url).script_flush()
            other = {**FLOWER, "petal_length": 1.5}  # not cached yet
            hits = [requests.post(f"{base}/api/v1/classify", json=other, timeout=10,
                                  headers={"Connection": "close"}).json()["cache_hit"]
                    for _ in range(3)]
            assert hits == [False, True, True]
    finally:
        server.shutdown()
