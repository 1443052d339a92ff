"""Honest limits: made-up keys, spoofed forwarding headers and many connections do not
multiply a client's budget (issue 14, item 2), through the test client and a real gunicorn.

The limited request is ``POST /api/v1/generate`` with an empty prompt: the limiter counts it
before validation answers 422, so no test waits for the model.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from ai_backends.api.app import create_app
from tests.conftest import free_port
from tests.servers import gunicorn_argv, running

pytestmark = pytest.mark.security
EMPTY = {"prompt": ""}
LIMIT = 3


def statuses(client: Any, count: int, headers: Any = None, address: str = "127.0.0.1",
             path: str = "/api/v1/generate") -> list[int]:
    """Status codes of ``count`` limited requests; ``headers`` may be a function of i."""
    codes = []
    for i in range(count):
        sent = headers(i) if callable(headers) else headers or {}
        response = client.post(path, json=EMPTY, headers=sent,
                               environ_base={"REMOTE_ADDR": address})
        codes.append(response.status_code)
    return codes


def fresh_window(needed: float = 10.0) -> None:
    """Wait for a new one-minute window if this one ends within ``needed`` seconds.

    The limiter counts per fixed minute; a test that crossed into the next one would see a
    fresh budget and fail for the wrong reason.
    """
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.1)


def limited_app(app_config: dict[str, Any], **settings: Any) -> Any:
    fresh_window()
    return create_app({**app_config, "RATE_LIMIT_PER_MINUTE": LIMIT, **settings}).test_client()


def test_made_up_keys_do_not_buy_budgets_when_keys_are_off(app_config: dict[str, Any]) -> None:
    client = limited_app(app_config)
    codes = statuses(client, 10, lambda i: {"X-API-Key": f"r{uuid.uuid4().hex}"})
    assert codes == [422] * LIMIT + [429] * (10 - LIMIT)  # one client: its address
    bearer = statuses(client, 2, lambda i: {"Authorization": f"Bearer b{i}"})
    assert bearer == [429, 429]


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(
        app_config: dict[str, Any]) -> None:
    client = limited_app(app_config)
    codes = statuses(client, 8, lambda i: {"X-Forwarded-For": f"203.0.113.{i}"})
    assert codes == [422] * LIMIT + [429] * (8 - LIMIT)


def test_a_trusted_proxy_names_the_client_and_cannot_be_spoofed_through(
        app_config: dict[str, Any]) -> None:
    client = limited_app(app_config, TRUSTED_PROXIES=["10.9.0.0/16"])
    proxy = "10.9.0.7"
    # Two real clients behind the proxy have a budget each...
    alice = statuses(client, 4, {"X-Forwarded-For": "198.51.100.1"}, address=proxy)
    bob = statuses(client, 4, {"X-Forwarded-For": "198.51.100.2"}, address=proxy)
    assert alice == bob == [422] * LIMIT + [429]
    # ...and whatever alice writes in front of what the proxy appended changes nothing.
    spoofed = statuses(client, 3, lambda i: {"X-Forwarded-For": f"192.0.2.{i}, 198.51.100.1"},
                       address=proxy)
    assert spoofed == [429] * 3
    # A client that is not the proxy cannot claim to be one.
    direct = statuses(client, 4, {"X-Forwarded-For": "198.51.100.9"}, address="192.0.2.50")
    assert direct == [422] * LIMIT + [429]
    assert statuses(client, 1, {"X-Forwarded-For": "198.51.100.9"},
                    address="192.0.2.50") == [429]


def test_an_ipv6_client_is_its_slash_64(app_config: dict[str, Any]) -> None:
    client = limited_app(app_config)
    codes = [statuses(client, 1, address=f"2001:db8:1:2::{i:x}")[0] for i in range(5)]
    assert codes == [422] * LIMIT + [429] * 2
    assert statuses(client, 1, address="2001:db8:1:3::1") == [422]  # another /64


def test_with_keys_only_valid_keys_count_and_a_tenant_has_one_budget(
        app_config: dict[str, Any]) -> None:
    client = limited_app(app_config, API_KEYS=["acme:k-one", "acme:k-two", "solo-key"])
    made_up = statuses(client, 5, lambda i: {"X-API-Key": f"guess-{i}"})
    assert made_up == [401] * 5  # refused before the limiter: no budget at all
    acme = statuses(client, 4, lambda i: {"X-API-Key": ("k-one", "k-two")[i % 2]})
    assert acme == [422] * LIMIT + [429]  # two keys of one tenant share its budget
    # Another tenant on the same address keeps its own budget.
    assert statuses(client, 1, {"X-API-Key": "solo-key"}) == [422]


def test_classify_benchmark_is_rate_limited(app_config: dict[str, Any]) -> None:
    fresh_window()
    client = create_app({**app_config, "BENCHMARK_RATE_LIMIT_PER_MINUTE": 2}).test_client()
    codes = statuses(client, 4, path="/api/v1/classify-benchmark")
    assert codes == [422, 422, 429, 429]
    response = client.post("/api/v1/classify-benchmark", json={})
    assert "benchmark requests a minute" in response.get_json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1


def test_many_connections_random_keys_and_spoofed_headers_share_one_budget_under_gunicorn(
        app_config: dict[str, Any]) -> None:
    port = free_port()
    env = {key: str(value) for key, value in app_config.items() if key != "TESTING"}
    env.update({"RATE_LIMIT_PER_MINUTE": "5", "LOG_LEVEL": "WARNING"})
    url = f"http://127.0.0.1:{port}"
    with running(gunicorn_argv(port, workers=2, threads=4), env, f"{url}/health"):

        def one(i: int) -> int:
            with requests.Session() as session:  # a new connection each time
                return session.post(f"{url}/api/v1/generate", json=EMPTY, timeout=10, headers={
                    "X-API-Key": f"r{i}", "X-Forwarded-For": f"203.0.113.{i % 250}",
                    "X-Real-IP": f"198.51.100.{i % 250}"}).status_code

        fresh_window(20.0)
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(one, range(60)))
    # 60 requests on 60 connections over 2 workers x 4 threads, each with its own made-up key
    # and forwarding headers: one client, one budget of 5 (the rest 429).
    assert sorted(codes) == [422] * 5 + [429] * 55
