"""The Ollama backend through the real client code, against a server speaking Ollama's API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ai_backends.api.context import services_of
from ai_backends.core.errors import Unavailable
from ai_backends.llm import Generation, GenerationParams
from ai_backends.llm.backends import collect
from ai_backends.llm.service import GenerationService, single_turn
from tests.conftest import free_port
from tests.fake_ollama import running

pytestmark = pytest.mark.integration
MESSAGES_ARGS = ("Be brief.", "Say hello")


def _app(app_config: dict[str, Any], **llm: Any) -> Any:
    from ai_backends.api.app import create_app

    return create_app({**app_config, "LLM_TIMEOUT_SECONDS": 1.0, **llm})


def test_generate_goes_to_ollama_with_roles_and_options() -> None:
    with running() as server:
        service = GenerationService("ollama", server.url, "tinyllama", timeout=5)
        result = service.generate(single_turn(*MESSAGES_ARGS),
                                  GenerationParams(max_tokens=4, temperature=0.0, seed=7))
    assert result.backend == "ollama" and result.model == "tinyllama"
    assert result.text == "Hello from the Ollama"
    sent = server.requests[-1]
    # Token counts are Ollama's own (prompt_eval_count / eval_count), not ours; the fake
    # counts the words it was sent (the system prompt now opens with the canary line).
    words = sum(len(m["content"].split()) for m in sent["messages"])
    assert (result.prompt_tokens, result.completion_tokens) == (words, 4)
    assert sent["messages"][0]["content"].startswith("Conversation id: ")
    assert result.finish_reason == "length"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "Say hello"
    assert sent["options"]["num_predict"] == 4 and sent["options"]["seed"] == 7


def test_stream_yields_pieces_then_one_generation() -> None:
    with running() as server:
        service = GenerationService("ollama", server.url, "tinyllama", timeout=5)
        items = list(service.stream(single_turn(*MESSAGES_ARGS), GenerationParams()))
    assert all(isinstance(item, str) for item in items[:-1])
    assert isinstance(items[-1], Generation)
    assert "".join(items[:-1]) == items[-1].text == "Hello from the Ollama server."


def test_auto_prefers_a_reachable_ollama_over_the_embedded_model(app_config: dict[str, Any]) -> None:
    with running() as server:
        app = _app(app_config, LLM_BACKEND="auto", OLLAMA_BASE_URL=server.url)
        client = app.test_client()
        response = client.post("/api/v1/generate", json={"prompt": "Say hello"})
        health = client.get("/health").get_json()["dependencies"]["llm"]
    assert response.status_code == 200
    assert response.get_json()["backend"] == "ollama"
    assert response.get_json()["response"] == "Hello from the Ollama server."
    assert health["up"] and health["implementation"] == "external (Ollama)"


def test_auto_falls_back_to_embedded_when_ollama_is_down(app_config: dict[str, Any]) -> None:
    app = _app(app_config, LLM_BACKEND="auto", OLLAMA_BASE_URL=f"http://127.0.0.1:{free_port()}")
    llm = services_of(app).llm
    assert llm.backend == "llamacpp"
    assert llm.model == "SmolLM2-135M-Instruct"


def test_ollama_down_gives_503_with_retry_after(app_config: dict[str, Any]) -> None:
    app = _app(app_config, LLM_BACKEND="ollama", OLLAMA_BASE_URL=f"http://127.0.0.1:{free_port()}")
    client = app.test_client()
    response = client.post("/api/v1/generate", json={"prompt": "Say hello"})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "unreachable" in response.get_json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
    health = client.get("/health")
    assert health.get_json()["dependencies"]["llm"]["up"] is False
    # The rest of the API keeps working.
    assert client.post("/api/v1/classify", json={"sepal_length": 5.1, "sepal_width": 3.5,
                                                  "petal_length": 1.4, "petal_width": 0.2}
                       ).status_code == 200


def test_slow_ollama_times_out_with_503(app_config: dict[str, Any]) -> None:
    with running("slow", delay=3.0) as server:
        app = _app(app_config, LLM_BACKEND="ollama", OLLAMA_BASE_URL=server.url)
        response = app.test_client().post("/api/v2/generate", json={"prompt": "Say hello"})
    assert response.status_code == 503
    assert "timed out" in response.get_json()["detail"]
    assert "Retry-After" in response.headers


def test_stream_from_ollama_is_ndjson(app_config: dict[str, Any]) -> None:
    with running() as server:
        app = _app(app_config, LLM_BACKEND="ollama", OLLAMA_BASE_URL=server.url)
        response = app.test_client().post("/api/v1/generate",
                                          json={"prompt": "Say hello", "stream": True})
        lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert response.mimetype == "application/x-ndjson"
    assert [line["token"] for line in lines[:-1]] == ["Hello", " from", " the", " Ollama",
                                                     " server", "."]
    assert lines[-1]["done"] is True and lines[-1]["backend"] == "ollama"
    assert lines[-1]["completion_tokens"] == 6


def test_server_dying_mid_stream_ends_with_an_error_line(app_config: dict[str, Any]) -> None:
    with running("break") as server:
        app = _app(app_config, LLM_BACKEND="ollama", OLLAMA_BASE_URL=server.url)
        response = app.test_client().post("/api/v1/generate",
                                          json={"prompt": "Say hello", "stream": True})
        lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert response.status_code == 200  # the stream had started
    assert [line.get("token") for line in lines[:-1]] == ["Hello", " from"]
    assert lines[-1]["error"]["status"] == 503


def test_unknown_model_on_the_server_is_unavailable() -> None:
    with running(model="llama3") as server:
        service = GenerationService("ollama", server.url, "tinyllama", timeout=5)
        with pytest.raises(Unavailable, match="404"):
            service.generate(single_turn(*MESSAGES_ARGS), GenerationParams(max_tokens=4))


def test_health_before_first_use_reports_what_auto_would_pick(app_config: dict[str, Any]) -> None:
    with running() as server:
        app = _app(app_config, LLM_BACKEND="auto", OLLAMA_BASE_URL=server.url)
        up = app.test_client().get("/health").get_json()["dependencies"]["llm"]
    down = _app(app_config, LLM_BACKEND="auto",
                OLLAMA_BASE_URL=f"http://127.0.0.1:{free_port()}").test_client().get(
                    "/health").get_json()["dependencies"]["llm"]
    assert up["implementation"] == "external (Ollama)" and "not used yet" in up["detail"]
    assert down["implementation"] == "embedded (llama.cpp)" and down["up"]
    assert "unreachable" in down["detail"]


def test_ollama_backend_loads_and_predicts() -> None:
    from ai_backends.llm.backends import OllamaBackend
    with running() as server:
        backend = OllamaBackend(server.url, "tinyllama", timeout=5)
        assert not backend.ready()
        backend.load()
        assert backend.ready() and backend.version == "tinyllama"
        result = collect(backend.stream(single_turn(*MESSAGES_ARGS),
                                        GenerationParams(max_tokens=2), backend.timeout))
    assert result.text == "Hello from"
    missing = OllamaBackend(f"http://127.0.0.1:{free_port()}", "tinyllama", timeout=1)
    with pytest.raises(Unavailable):
        missing.load()
