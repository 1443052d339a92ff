"""The OpenAI surface on the Ollama backend (a server speaking Ollama's API at the boundary)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import free_port
from tests.fake_ollama import running

pytestmark = pytest.mark.integration


def _client(app_config: dict[str, Any], url: str) -> Any:
    from ai_backends.api.app import create_app

    return create_app({**app_config, "LLM_BACKEND": "ollama", "OLLAMA_BASE_URL": url,
                       "LLM_TIMEOUT_SECONDS": 2.0}).test_client()


def test_chat_goes_to_ollama_with_sampling_options(app_config: dict[str, Any]) -> None:
    with running() as server:
        client = _client(app_config, server.url)
        models = client.get("/v1/models").get_json()["data"]
        answer = client.post("/v1/chat/completions", json={
            "model": "tinyllama:latest", "max_tokens": 4, "temperature": 0, "seed": 3,
            "top_p": 0.5, "stop": ["\n\n", "END"],
            "messages": [{"role": "developer", "content": "Be brief."},
                         {"role": "user", "content": "Say hello"}]})
    assert {"id": "tinyllama", "backend": "ollama"}.items() <= models[0].items()
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["choices"][0]["message"]["content"] == "Hello from the Ollama"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["system_fingerprint"] == "ollama:tinyllama"
    sent = server.requests[-1]
    # Ollama's own counts: the fake counts the words it was sent (the canary line included).
    words = sum(len(m["content"].split()) for m in sent["messages"])
    assert body["usage"] == {"prompt_tokens": words, "completion_tokens": 4,
                             "total_tokens": words + 4}
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["options"]["top_p"] == 0.5 and sent["options"]["stop"] == ["\n\n", "END"]
    assert sent["options"]["num_predict"] == 4 and sent["options"]["seed"] == 3


def test_streamed_chat_from_ollama(app_config: dict[str, Any]) -> None:
    with running() as server:
        client = _client(app_config, server.url)
        answer = client.post("/v1/chat/completions", json={
            "model": "tinyllama", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Say hello"}]})
        events = answer.get_data(as_text=True).split("\n\n")
    assert answer.mimetype == "text/event-stream"
    assert events[-2] == "data: [DONE]"
    chunks = [json.loads(event[6:]) for event in events[:-2]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from the Ollama server."
    assert chunks[-1]["usage"]["completion_tokens"] == 6


def test_ollama_down_is_an_openai_503_with_retry_after(app_config: dict[str, Any]) -> None:
    client = _client(app_config, f"http://127.0.0.1:{free_port()}")
    answer = client.post("/v1/chat/completions", json={
        "model": "tinyllama", "messages": [{"role": "user", "content": "Say hello"}]})
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "service_unavailable")
    assert int(answer.headers["Retry-After"]) >= 1


def test_failure_mid_stream_is_a_last_error_event(app_config: dict[str, Any]) -> None:
    with running("break") as server:
        client = _client(app_config, server.url)
        answer = client.post("/v1/chat/completions", json={
            "model": "tinyllama", "stream": True,
            "messages": [{"role": "user", "content": "Say hello"}]})
        events = [e for e in answer.get_data(as_text=True).split("\n\n") if e]
    assert answer.status_code == 200  # the status line was sent before the failure
    assert "data: [DONE]" not in events
    last = json.loads(events[-1][6:])
    assert last["error"]["code"] == "service_unavailable"
    assert "Ollama" in last["error"]["message"]
