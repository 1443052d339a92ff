"""The OpenAI edge without generating: refusals, error shape, keys, the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from ai_backends.api.openai.errors import ERROR_TABLE, openai_error
from ai_backends.llm.backends import StopScanner

pytestmark = pytest.mark.unit

MODEL = "SmolLM2-135M-Instruct"
HI = [{"role": "user", "content": "Hi"}]


def _error(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return dict(body["error"])


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"n": 3}, "n", "one choice"),
    ({"logprobs": True}, "logprobs", "probabilities"),
    ({"top_logprobs": 2}, "top_logprobs", "probabilities"),
    ({"tools": [{"type": "function"}]}, "tools", "tool"),
    ({"tool_choice": "auto"}, "tool_choice", "none"),
    ({"presence_penalty": 0.5}, "presence_penalty", "only 0"),
    ({"logit_bias": {"50256": -100}}, "logit_bias", "biases"),
    ({"response_format": {"type": "json_schema"}}, "response_format.type", "text"),
    ({"frobnicate": True}, "frobnicate", "unknown parameter"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
    ({"temperature": 3}, "temperature", "less than or equal to 2"),
])
def test_unsupported_or_invalid_parameters_are_400_naming_the_parameter(
        client: Any, body: dict[str, Any], param: str, words: str) -> None:
    response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **body})
    assert response.status_code == 400
    error = _error(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == (None if param == "body" else param)
    assert words in error["message"]


def test_tool_and_image_messages_are_refused(client: Any) -> None:
    tool = client.post("/v1/chat/completions", json={
        "model": MODEL, "messages": [{"role": "tool", "content": "42", "tool_call_id": "x"}]})
    assert tool.status_code == 400
    assert _error(tool)["param"] == "messages.0.role"
    image = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})
    assert image.status_code == 400


def test_completions_refuse_several_prompts_echo_and_suffix(client: Any) -> None:
    for extra in ({"prompt": ["a", "b"]}, {"prompt": "a", "echo": True},
                  {"prompt": "a", "suffix": "z"}, {"prompt": "a", "best_of": 2}):
        response = client.post("/v1/completions", json={"model": MODEL, **extra})
        assert response.status_code == 400, extra
        assert _error(response)["code"] == "unsupported_parameter"


def test_embeddings_refuse_other_models_dimensions_and_token_arrays(client: Any) -> None:
    other = client.post("/v1/embeddings", json={"model": "text-embedding-3-small",
                                                "input": "hi"})
    assert other.status_code == 404
    assert _error(other)["code"] == "model_not_found"
    for body in ({"input": "hi", "dimensions": 128}, {"input": [[1, 2, 3]]}, {"input": []},
                 {"input": "hi", "encoding_format": "int8"}):
        response = client.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", **body})
        assert response.status_code == 400, body


def test_over_long_embedding_input_is_context_length_exceeded(client: Any) -> None:
    response = client.post("/v1/embeddings", json={
        "model": "all-MiniLM-L6-v2", "input": ["short", "word " * 600]})
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "context_length_exceeded"
    assert "input 1" in error["message"]


def test_bodies_that_are_not_json_get_openai_errors(client: Any) -> None:
    broken = client.post("/v1/embeddings", data="{", content_type="application/json")
    assert broken.status_code == 400
    assert _error(broken)["message"] == "the request body is not valid JSON"
    text = client.post("/v1/embeddings", data="hi", content_type="text/plain")
    assert text.status_code == 415
    assert _error(text)["code"] == "unsupported_media_type"


def test_unknown_route_and_method_keep_the_shape(client: Any) -> None:
    missing = client.post("/v1/audio/speech", json={})
    assert missing.status_code == 404
    assert _error(missing)["code"] == "not_found"
    wrong_method = client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405


def test_keys_as_bearer_or_x_api_key(app_config: dict[str, Any]) -> None:
    from ai_backends.api.app import create_app

    client = create_app({**app_config, "API_KEYS": ["k1"]}).test_client()
    refused = client.get("/v1/models")
    assert refused.status_code == 401
    error = _error(refused)
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/v1/models", headers={"Authorization": "Bearer k1"}).status_code == 200
    assert client.get("/v1/models", headers={"X-API-Key": "k1"}).status_code == 200
    # The rest of the API keeps its problem+json errors.
    other = client.get("/api/v1/models")
    assert other.status_code == 401
    assert other.mimetype == "application/problem+json"


def test_rate_limit_is_openai_shaped_with_retry_after(app_config: dict[str, Any]) -> None:
    from ai_backends.api.app import create_app

    client = create_app({**app_config, "RATE_LIMIT_PER_MINUTE": 1}).test_client()
    body = {"model": "not-served", "messages": HI}
    first = client.post("/v1/chat/completions", json=body)  # counted, then refused: 404
    assert first.status_code == 404
    statuses = [client.post("/v1/chat/completions", json=body).status_code for _ in range(2)]
    assert 429 in statuses
    limited = client.post("/v1/completions", json={"model": "x", "prompt": "hi"})
    assert limited.status_code == 429
    assert _error(limited)["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61


def test_openapi_document_has_the_routes_with_openai_errors(client: Any) -> None:
    spec = client.get("/openapi/openapi.json").get_json()
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"):
        assert path in spec["paths"]
    responses = spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "422" not in responses
    for status in ("400", "404", "429", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "text/event-stream" in responses["200"]["content"]
    request = spec["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    assert {"screen_injection", "semantic_cache", "stream_options", "top_p", "stop"} <= set(
        request)
    assert "bearer" in spec["components"]["securitySchemes"]


def test_every_error_status_maps_to_an_openai_type() -> None:
    for status, (sent, kind, _) in ERROR_TABLE.items():
        got, body = openai_error({"status": status, "detail": "x"})
        assert got == sent and body["error"]["type"] == kind
    assert openai_error({"status": 422, "detail": "x"})[0] == 400


@pytest.mark.parametrize(("pieces", "stops", "released", "answer"), [
    (["Hel", "lo wor", "ld"], [], ["Hel", "lo wor", "ld"], "Hello world"),
    (["The ca", "pital is Pa", "ris."], ["Paris"], ["The ca", "pital is "], "The capital is "),
    (["a<|im", "_end|>b"], ["<|im_end|>"], ["a"], "a"),
    (["x\n", "y"], ["\n\n"], ["x", "\ny"], "x\ny"),
])
def test_stop_scanner_cuts_before_a_stop_split_across_pieces(
        pieces: list[str], stops: list[str], released: list[str], answer: str) -> None:
    scanner = StopScanner(stops)
    out = [scanner.feed(piece) for piece in pieces]
    if not scanner.stopped:
        out[-1] += scanner.flush()
    assert [piece for piece in out if piece] == released
    assert scanner.text == answer
