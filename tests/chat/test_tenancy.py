"""Tenant isolation (issue 14, item 4): two tenants cannot read, delete, or be served each
other's chat sessions, cache entries or statistics, and no response shows another tenant's
prompt. Real model (a few tokens), real Redis under a prefix of this module's own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ai_backends.api.context import services_of

pytestmark = [pytest.mark.integration, pytest.mark.security]
SHORT = {"max_tokens": 3, "temperature": 0.0}
ALICE = {"X-API-Key": "key-alice"}
ALICE_TOO = {"Authorization": "Bearer key-alice-2"}  # a second key of the same tenant
BOB = {"X-API-Key": "key-bob"}
BOB_PROMPT = "How do I treat my teenage son's asthma attack at home?"
PARAPHRASE = "How should I treat my teenage son's asthma attack at home?"


@pytest.fixture(scope="module")
def tenant_config(model_dir: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[dict[str, Any]]:
    """Two tenants, alice (two keys) and bob; caches per tenant (the default)."""
    prefix = f"test-tenants-{uuid.uuid4().hex[:8]}:"
    yield {"MODEL_DIR": str(model_dir), "REDIS_URL": redis_url, "TESTING": True,
           "DATA_DIR": str(tmp_path_factory.mktemp("tenant-data")), "REDIS_KEY_PREFIX": prefix,
           "LLM_BACKEND": "llamacpp", "LLM_TIMEOUT_SECONDS": 120.0, "RATE_LIMIT_PER_MINUTE": 0,
           "API_KEYS": ["alice:key-alice", "alice:key-alice-2", "bob:key-bob"]}
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)


@pytest.fixture(scope="module")
def tenant_app(tenant_config: dict[str, Any]) -> Any:
    """The app of this module; its model loads once."""
    from ai_backends.api.app import create_app

    return create_app(tenant_config)


@pytest.fixture
def api(tenant_app: Any) -> Any:
    """Test client of the shared app."""
    return tenant_app.test_client()


def ask(api: Any, headers: dict[str, str], prompt: str) -> dict[str, Any]:
    response = api.post("/api/v1/chat-semantic", json={"prompt": prompt, **SHORT},
                        headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_a_session_belongs_to_the_tenant_that_made_it(api: Any) -> None:
    session = f"alice-private-session-{uuid.uuid4().hex[:6]}"
    made = api.post("/api/v1/chat", json={"prompt": "My secret is 42.", "session_id": session,
                                          **SHORT}, headers=BOB)
    assert made.status_code == 200
    for method in (api.get, api.delete):
        other = method(f"/api/v1/chat/{session}", headers=ALICE)
        assert other.status_code == 404, other.get_json()
        assert "secret" not in other.get_data(as_text=True)
    # Alice writing to the same id starts her own conversation; bob's is untouched.
    mine = api.post("/api/v1/chat", json={"prompt": "Hello.", "session_id": session, **SHORT},
                    headers=ALICE)
    assert mine.get_json()["conversation_length"] == 1  # exchanges, as documented
    alice_view = api.get(f"/api/v1/chat/{session}", headers=ALICE_TOO).get_json()
    assert [m["content"] for m in alice_view["messages"]][0] == "Hello."
    bob_view = api.get(f"/api/v1/chat/{session}", headers=BOB).get_json()
    assert bob_view["messages"][0]["content"] == "My secret is 42."
    assert bob_view["conversation_length"] == 1
    assert api.delete(f"/api/v1/chat/{session}", headers=BOB).status_code == 204
    assert api.get(f"/api/v1/chat/{session}", headers=ALICE).status_code == 200


def test_a_tenant_is_never_served_another_tenants_cached_answer(api: Any) -> None:
    bob_first = ask(api, BOB, BOB_PROMPT)["cache_info"]
    assert not bob_first["cache_hit"]
    control = ask(api, BOB, PARAPHRASE)["cache_info"]  # the same tenant gets a semantic hit
    assert control["cache_type"] == "semantic" and control["matched_prompt"] == BOB_PROMPT
    for prompt in (PARAPHRASE, BOB_PROMPT, BOB_PROMPT.upper()):
        api.delete("/api/v1/cache", headers=ALICE)  # not even her own earlier question
        body = ask(api, ALICE, prompt)
        assert body["cache_info"]["cache_hit"] is False
        assert body["cache_info"]["matched_prompt"] is None
        text = json.dumps(body)
        assert "teenage son" not in text.replace(prompt, "")  # only her own words come back
    # Asking again is an exact hit on her own last question (through her other key too).
    again = ask(api, ALICE_TOO, BOB_PROMPT)["cache_info"]
    assert again["cache_type"] == "exact" and again["matched_prompt"] == BOB_PROMPT.upper()


def test_cache_statistics_and_clearing_are_per_tenant(api: Any) -> None:
    api.delete("/api/v1/cache", headers=ALICE)
    api.delete("/api/v1/cache", headers=BOB)
    ask(api, BOB, "What is the capital of France?")
    ask(api, BOB, "What is the capital of France?")
    bob = api.get("/api/v1/cache/stats", headers=BOB).get_json()
    alice = api.get("/api/v1/cache/stats", headers=ALICE).get_json()
    assert bob["requests"] == 2 and bob["exact"]["hits"] == 1
    assert bob["exact"]["entries"] == 1 and bob["semantic"]["entries"] == 1
    assert alice["requests"] == 0 and alice["exact"]["entries"] == 0
    assert alice["semantic"]["entries"] == 0
    # Alice clearing "everything" clears her caches only.
    cleared = api.delete("/api/v1/cache", headers=ALICE).get_json()
    assert cleared["cleared"] == {"exact": 0, "semantic": 0}
    after = api.get("/api/v1/cache/stats", headers=BOB).get_json()
    assert after["requests"] == 2 and after["exact"]["entries"] == 1
    assert ask(api, BOB, "What is the capital of France?")["cache_info"]["cache_type"] == "exact"


def test_shared_caches_serve_everyone_but_hide_the_cached_prompt(
        tenant_config: dict[str, Any], tenant_app: Any) -> None:
    from ai_backends.api.app import create_app
    from ai_backends.services import build_services

    shared = create_app(services=build_services(
        {**tenant_config, "SHARED_CHAT_CACHE": True}, llm=services_of(tenant_app).llm))
    api = shared.test_client()
    ask(api, BOB, BOB_PROMPT)
    paraphrase = ask(api, ALICE, PARAPHRASE)["cache_info"]
    assert paraphrase["cache_type"] == "semantic" and paraphrase["matched_prompt"] is None
    exact = ask(api, ALICE, BOB_PROMPT.upper())["cache_info"]
    assert exact["cache_type"] == "exact" and exact["matched_prompt"] == BOB_PROMPT.upper()
    assert api.get("/api/v1/cache/stats", headers=ALICE).get_json()["requests"] >= 3
    api.delete("/api/v1/cache", headers=BOB)


def test_keys_are_required_and_a_made_up_key_reads_nothing(api: Any) -> None:
    assert api.get("/api/v1/cache/stats").status_code == 401
    assert api.get("/api/v1/cache/stats", headers={"X-API-Key": "key-mallory"}
                   ).status_code == 401
    assert api.get("/api/v1/chat/abcdefgh123", headers={"X-API-Key": "bob"}).status_code == 401


def test_a_tenant_keeps_at_most_its_cap_of_sessions(tenant_config: dict[str, Any],
                                                    tenant_app: Any) -> None:
    from ai_backends.api.app import create_app
    from ai_backends.services import build_services

    capped = create_app(services=build_services(
        {**tenant_config, "CHAT_MAX_SESSIONS_PER_TENANT": 2}, llm=services_of(tenant_app).llm))
    api = capped.test_client()
    bob_session = f"bob-keeps-{uuid.uuid4().hex[:8]}"
    api.post("/api/v1/chat", json={"prompt": "Hi.", "session_id": bob_session, **SHORT},
             headers=BOB)
    sessions = [f"alice-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)]
    for session in sessions:
        response = api.post("/api/v1/chat", json={"prompt": "Hi.", "session_id": session,
                                                  **SHORT}, headers=ALICE)
        assert response.status_code == 200
    # The least recently active of alice's sessions went; bob's, under his own cap, stayed.
    assert api.get(f"/api/v1/chat/{sessions[0]}", headers=ALICE).status_code == 404
    assert [api.get(f"/api/v1/chat/{s}", headers=ALICE).status_code
            for s in sessions[1:]] == [200, 200]
    assert api.get(f"/api/v1/chat/{bob_session}", headers=BOB).status_code == 200
    assert services_of(capped).chat().session_count("alice") == 2
