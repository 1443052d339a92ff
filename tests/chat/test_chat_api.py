"""Chat memory, chat-semantic and cache analytics through the test client.

The answers come from the real embedded model (SmolLM2 in llama.cpp), kept to a few tokens;
memory and caches live in the real Redis under a prefix of their own.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ai_backends.api.context import services_of
from ai_backends.core.tenancy import DEFAULT_TENANT
from tests.metrics import metric

pytestmark = pytest.mark.integration
SHORT = {"max_tokens": 3, "temperature": 0.0}


@pytest.fixture(scope="module")
def chat_config(model_dir: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[dict[str, Any]]:
    """Config shared by the apps of this module (a second app = the API after a restart)."""
    prefix = f"test-chat-{uuid.uuid4().hex[:8]}:"
    yield {"MODEL_DIR": str(model_dir), "REDIS_URL": redis_url, "TESTING": True,
           "DATA_DIR": str(tmp_path_factory.mktemp("chat-data")), "REDIS_KEY_PREFIX": prefix,
           "LLM_BACKEND": "llamacpp", "LLM_TIMEOUT_SECONDS": 120.0, "CHAT_HISTORY_TURNS": 10,
           "RATE_LIMIT_PER_MINUTE": 0}
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)


@pytest.fixture(scope="module")
def chat_app(chat_config: dict[str, Any]) -> Any:
    """The app of this module; its model loads once."""
    from ai_backends.api.app import create_app

    return create_app(chat_config)


@pytest.fixture
def api(chat_app: Any) -> Any:
    """Test client of the shared app."""
    return chat_app.test_client()


def restarted(chat_config: dict[str, Any], chat_app: Any) -> Any:
    """A fresh app on the same Redis (as after an API restart), sharing the loaded model."""
    from ai_backends.api.app import create_app
    from ai_backends.services import build_services

    return create_app(services=build_services(chat_config, llm=services_of(chat_app).llm))


def say(api: Any, prompt: str, session_id: str | None = None) -> dict[str, Any]:
    body = {"prompt": prompt, **SHORT, **({"session_id": session_id} if session_id else {})}
    response = api.post("/api/v1/chat", json=body)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_a_new_conversation_gets_a_session_id(api: Any) -> None:
    first = say(api, "Hello, my name is Ada.")
    assert len(first["session_id"]) == 32
    assert first["conversation_length"] == 1 and first["messages_exchanged"] == 2
    assert first["memory_stats"] == {"total_messages": 2, "human_messages": 1, "ai_messages": 1}
    assert first["response"] and first["backend"] == "llamacpp"


def test_history_survives_a_restart(api: Any, chat_config: dict[str, Any], chat_app: Any
                                    ) -> None:
    session = f"restart-{uuid.uuid4().hex[:8]}"
    for prompt in ("My name is Ada.", "I live in Paris."):
        say(api, prompt, session)
    after = restarted(chat_config, chat_app).test_client()
    history = after.get(f"/api/v1/chat/{session}").get_json()
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
        "My name is Ada.", "I live in Paris."]
    assert history["memory_stats"] == {"total_messages": 4, "human_messages": 2, "ai_messages": 2}
    assert say(after, "What is my name?", session)["conversation_length"] == 3


def test_two_sessions_never_see_each_other(api: Any) -> None:
    one, two = f"one-{uuid.uuid4().hex[:8]}", f"two-{uuid.uuid4().hex[:8]}"
    say(api, "The secret word is apple.", one)
    say(api, "The secret word is river.", two)
    texts_one = json.dumps(api.get(f"/api/v1/chat/{one}").get_json()["messages"])
    texts_two = json.dumps(api.get(f"/api/v1/chat/{two}").get_json()["messages"])
    assert "apple" in texts_one and "river" not in texts_one
    assert "river" in texts_two and "apple" not in texts_two


def test_concurrent_messages_on_one_session_lose_nothing(chat_app: Any) -> None:
    session = f"busy-{uuid.uuid4().hex[:8]}"
    prompts = [f"Message number {i}." for i in range(5)]
    statuses: list[int] = []

    def send(prompt: str) -> None:
        response = chat_app.test_client().post("/api/v1/chat", json={
            "prompt": prompt, "session_id": session, **SHORT})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(p,)) for p in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 5
    messages = chat_app.test_client().get(f"/api/v1/chat/{session}").get_json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 5  # turns never interleave
    assert sorted(m["content"] for m in messages if m["role"] == "user") == prompts


def test_history_keeps_only_the_recent_turns(redis_url: str) -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from ai_backends.chat.memory import RedisChatHistory

    client = redis.Redis.from_url(redis_url)
    history = RedisChatHistory(client, f"test-window-{uuid.uuid4().hex[:8]}", 4, 60)
    try:
        for i in range(3):
            history.add_messages([HumanMessage(content=f"Turn {i}."), AIMessage(content="ok")])
        assert [m.content for m in history.messages] == ["Turn 1.", "ok", "Turn 2.", "ok"]
        assert history.total_messages() == 6
        assert 0 < client.ttl(history.key) <= 60  # forgotten after a minute of silence
    finally:
        history.clear()


def test_delete_forgets_a_session(api: Any) -> None:
    session = say(api, "Remember me.")["session_id"]
    assert api.delete(f"/api/v1/chat/{session}").status_code == 204
    assert api.get(f"/api/v1/chat/{session}").status_code == 404
    assert api.delete(f"/api/v1/chat/{session}").status_code == 404


def test_stream_sends_tokens_then_the_turn(api: Any) -> None:
    session = f"stream-{uuid.uuid4().hex[:8]}"
    response = api.post("/api/v1/chat", json={"prompt": "Hi", "session_id": session,
                                              "stream": True, **SHORT})
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert all("token" in line for line in lines[:-1])
    assert lines[-1]["done"] and lines[-1]["session_id"] == session
    assert lines[-1]["response"] == "".join(line["token"] for line in lines[:-1])
    assert api.get(f"/api/v1/chat/{session}").get_json()["conversation_length"] == 1


def test_a_client_leaving_a_stream_frees_its_session(api: Any) -> None:
    session = f"leave-{uuid.uuid4().hex[:8]}"
    response = api.post("/api/v1/chat", json={"prompt": "Tell me a long story.",
                                              "session_id": session, "stream": True,
                                              "max_tokens": 64}, buffered=False)
    first = next(iter(response.response))
    assert "token" in json.loads(first)
    response.close()  # the client goes away mid-answer
    # The session lock is released at once: the next message does not wait or conflict.
    assert say(api, "Hello again.", session)["conversation_length"] == 1


@pytest.mark.parametrize("session_id", ["short", "has space in it", "x" * 65, "semi;colon1"])
def test_bad_session_ids_get_422(api: Any, session_id: str) -> None:
    response = api.post("/api/v1/chat", json={"prompt": "Hi", "session_id": session_id})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "session_id"
    assert api.get(f"/api/v1/chat/{session_id}").status_code in (404, 422)


def test_chat_without_redis_is_503_and_the_rest_works(chat_config: dict[str, Any]) -> None:
    from ai_backends.api.app import create_app
    from tests.conftest import free_port

    app = create_app({**chat_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    api = app.test_client()
    response = api.post("/api/v1/chat", json={"prompt": "Hi", **SHORT})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "chat memory store unreachable" in response.get_json()["detail"]
    assert api.get("/api/v1/cache/stats").status_code == 503
    health = api.get("/health").get_json()
    assert health["dependencies"]["redis"]["up"] is False


def test_chat_semantic_without_redis_still_answers(chat_config: dict[str, Any], chat_app: Any
                                                   ) -> None:
    from tests.conftest import free_port

    app = restarted({**chat_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
                    chat_app)
    body = semantic(app.test_client(), "What is the speed of light?")
    assert body["response"]
    assert body["cache_info"]["cache_hit"] is False
    assert body["cache_info"]["cache_available"] is False


def semantic(api: Any, prompt: str) -> dict[str, Any]:
    response = api.post("/api/v1/chat-semantic", json={"prompt": prompt, **SHORT})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_semantic_chat_as_a_new_user_tries_it(api: Any, chat_config: dict[str, Any],
                                              chat_app: Any) -> None:
    assert api.delete("/api/v1/cache?which=all").status_code == 200
    semantic_hits = metric(api, "cache_lookups_total", cache="chat-semantic", result="hit")
    exact_hits = metric(api, "cache_lookups_total", cache="chat-exact", result="hit")
    first = semantic(api, "What is artificial intelligence?")
    assert first["cache_info"]["cache_hit"] is False

    paraphrase = semantic(api, "Can you explain what artificial intelligence is?")
    info = paraphrase["cache_info"]
    assert info["cache_hit"] and info["cache_type"] == "semantic"
    assert info["similarity_score"] >= info["threshold"]
    assert info["matched_prompt"] == "What is artificial intelligence?"
    assert paraphrase["response"] == first["response"]

    exact = semantic(api, "what is  artificial intelligence?")
    assert exact["cache_info"]["cache_type"] == "exact"

    unrelated = semantic(api, "How do I bake bread at home?")["cache_info"]
    assert unrelated["cache_hit"] is False and unrelated["similarity_score"] < 0.5

    near = semantic(api, "What is artificial intelligence not?")["cache_info"]
    assert near["cache_hit"] is False and near["near_miss"] == "negation differs"
    assert near["similarity_score"] > near["threshold"]

    stats = api.get("/api/v1/cache/stats").get_json()
    assert stats["requests"] == 5
    assert stats["exact"]["hits"] == 1
    assert stats["semantic"]["hits"] == 1 and stats["semantic"]["misses"] == 3
    assert stats["semantic"]["near_misses"] == 1
    assert stats["semantic"]["entries"] == 3
    assert stats["semantic"]["mean_similarity_of_hits"] >= 0.8
    assert stats["latency_ms"]["mean_miss"] > stats["latency_ms"]["mean_hit"]
    assert stats["time_saved_ms"] > 0
    assert metric(api, "cache_lookups_total", cache="chat-semantic", result="hit") == (
        semantic_hits + 1)
    assert metric(api, "cache_lookups_total", cache="chat-exact", result="hit") == exact_hits + 1

    after = restarted(chat_config, chat_app).test_client()
    again = semantic(after, "Explain what artificial intelligence is.")["cache_info"]
    assert again["cache_hit"] and again["cache_type"] == "semantic"


def test_other_generation_parameters_do_not_share_answers(api: Any) -> None:
    api.delete("/api/v1/cache?which=all")
    semantic(api, "What is machine learning?")
    other = api.post("/api/v1/chat-semantic", json={"prompt": "What is machine learning?",
                                                    "max_tokens": 4, "temperature": 0.0})
    assert other.get_json()["cache_info"]["cache_hit"] is False


def test_clearing_one_cache_keeps_the_other(api: Any) -> None:
    api.delete("/api/v1/cache?which=all")
    semantic(api, "What causes rain?")
    cleared = api.delete("/api/v1/cache?which=exact").get_json()
    assert cleared == {"which": "exact", "cleared": {"exact": 1}}
    info = semantic(api, "What causes rain?")["cache_info"]
    assert info["cache_type"] == "semantic" and info["similarity_score"] > 0.99
    assert api.delete("/api/v1/cache?which=semantic").get_json()["cleared"] == {"semantic": 1}
    assert api.delete("/api/v1/cache?which=both").status_code == 422


def test_openapi_documents_the_chat_endpoints(api: Any) -> None:
    paths = api.get("/openapi/openapi.json").get_json()["paths"]
    for path in ("/api/v1/chat", "/api/v1/chat/{session_id}", "/api/v1/chat-semantic",
                 "/api/v1/cache/stats", "/api/v1/cache"):
        assert path in paths


def test_chat_semantic_with_a_broken_embedding_model_still_answers(
        chat_config: dict[str, Any], chat_app: Any, tmp_path: Path) -> None:
    import shutil

    from ai_backends.cache.embeddings import TOKENIZER_FILES

    source = Path(chat_app.config["EMBEDDING_MODEL_DIR"])
    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, tmp_path / name)
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    app = restarted({**chat_config, "EMBEDDING_MODEL_DIR": str(tmp_path)}, chat_app)
    body = semantic(app.test_client(), "What is the boiling point of water?")
    assert body["response"] and body["cache_info"]["cache_available"] is False


def test_a_session_busy_for_too_long_gives_409(chat_config: dict[str, Any], chat_app: Any,
                                               redis_url: str) -> None:
    app = restarted({**chat_config, "LLM_TIMEOUT_SECONDS": 0.2}, chat_app)
    session = f"held-{uuid.uuid4().hex[:8]}"
    key = services_of(app).chat().session_key(DEFAULT_TENANT, session)
    lock = redis.Redis.from_url(redis_url).lock(f"{key}:lock", timeout=10)
    assert lock.acquire()  # another worker is in the middle of a turn of this session
    try:
        response = app.test_client().post("/api/v1/chat", json={
            "prompt": "Hi", "session_id": session, **SHORT})
    finally:
        lock.release()
    assert response.status_code == 409
    assert "busy" in response.get_json()["detail"]
