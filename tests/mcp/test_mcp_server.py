"""The MCP server as a client sees it: a subprocess driven by the SDK's own client.

One server (stdio, services in-process) is shared by the session, a second one has
registry writes enabled; the ``--url`` and ``--http`` modes get short tests of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters, stdio_client

from ai_backends.classify.model_card import ModelCard
from ai_backends.classify.training import train
from ai_backends.mcp.server import DRIFT_URI, MODEL_CARD_URI, OPENAPI_URI
from ai_backends.mlops.registry import MODEL_NAMES
from tests.conftest import free_port
from tests.servers import ROOT, gunicorn_argv, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER = str(ROOT / "scripts" / "mcp_server.py")
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}


class Client:
    """A synchronous face on an MCP ``ClientSession`` running in a background event loop."""

    def __init__(self, portal: BlockingPortal, session: ClientSession) -> None:
        self.portal = portal
        self.session = session

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.session, name)
        return lambda *args, **kwargs: self.portal.call(lambda: method(*args, **kwargs))


def connect(stack: ExitStack, portal: BlockingPortal,
            transport: AbstractAsyncContextManager[Any]) -> Client:
    """Open ``transport``, start a session on it and initialize it; closed with ``stack``."""
    streams = stack.enter_context(portal.wrap_async_context_manager(transport))
    session = stack.enter_context(portal.wrap_async_context_manager(
        ClientSession(streams[0], streams[1])))
    portal.call(session.initialize)
    return Client(portal, session)


def stdio(args: list[str], env: dict[str, str], log: Path) -> AbstractAsyncContextManager[Any]:
    """The SDK's stdio transport to ``scripts/mcp_server.py args``; server stderr to ``log``."""
    # The script imports the installed project; this checkout's code is what is tested.
    params = StdioServerParameters(command=sys.executable, args=[SERVER, *args],
                                   env={**env, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT))
    return stdio_client(params, errlog=log.open("w"))


@pytest.fixture(scope="session")
def server_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a server with its own model, data folder (drift reference, prediction
    log, MLflow registry) and Redis key prefix."""
    model_dir = tmp_path_factory.mktemp("mcp-model")
    data_dir = tmp_path_factory.mktemp("mcp-data")
    train(model_dir, data_dir)
    return {
        "MODEL_DIR": str(model_dir),
        "DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"test-mcp-{uuid.uuid4().hex[:8]}:",
        "HTTP_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
        "GRPC_SIDECAR_TARGET": f"127.0.0.1:{free_port()}",
        "PYTHONPATH": str(ROOT),  # for scripts/train_iris_model.py, as in stdio()
        # The drift job stays between reports: Evidently is imported once, not per report
        # (the default, a process per report, is what tests/mlops/test_drift.py runs).
        "DRIFT_JOB_LINGER_SECONDS": "60",
    }


@pytest.fixture(scope="session")
def mcp(server_env: dict[str, str], registration: Any) -> Iterator[Client]:
    """One stdio MCP server (services in-process) for the whole session."""
    log = Path(server_env["DATA_DIR"]) / "mcp-server.log"
    with start_blocking_portal() as portal, ExitStack() as stack:
        yield connect(stack, portal, stdio([], server_env, log))


@pytest.fixture(scope="session")
def writer(server_env: dict[str, str]) -> Iterator[Client]:
    """A second server, started with --allow-registry-writes, on the same data."""
    log = Path(server_env["DATA_DIR"]) / "mcp-writer.log"
    with start_blocking_portal() as portal, ExitStack() as stack:
        yield connect(stack, portal, stdio(["--allow-registry-writes"], server_env, log))


@pytest.fixture(scope="session")
def registration(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[subprocess.Popen[bytes]]:
    """Start registering both model formats in the servers' MLflow registry, in the background.

    It takes a while (MLflow creates its database), so it runs while other tests do.
    """
    env = {**server_env, "MODEL_DIR": str(tmp_path_factory.mktemp("registered-model"))}
    process = subprocess.Popen([sys.executable, "scripts/train_iris_model.py", "--register"],
                               cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    yield process
    process.kill()
    process.wait()


@pytest.fixture(scope="session")
def registered(registration: subprocess.Popen[bytes]) -> None:
    """Both model formats registered (version 1, alias production) in the servers' registry."""
    output, _ = registration.communicate(timeout=300)
    assert registration.returncode == 0, output.decode()


def call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    """Call ``tool``; return its structured result (the test fails on a tool error)."""
    result = client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


def tool_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Call ``tool`` expecting a tool error; return its message."""
    result = client.call_tool(tool, arguments)
    assert result.is_error, result
    text: str = result.content[0].text
    assert "Traceback" not in text
    return text


def test_lists_tools_resources_and_prompt(mcp: Client) -> None:
    tools = {tool.name: tool for tool in mcp.list_tools().tools}
    assert set(tools) == {"classify_iris", "generate_text", "chat", "semantic_cache_stats",
                          "drift_report", "list_models"}
    # Registry writes stay off unless the server is started with --allow-registry-writes.
    assert "set_model_alias" not in tools
    classify = tools["classify_iris"]
    assert "Iris" in (classify.description or "")
    sample_schema = json.dumps(classify.input_schema)
    for feature in SETOSA:
        assert feature in sample_schema
    assert classify.input_schema["required"] == ["samples"]

    resources = {str(resource.uri): resource for resource in mcp.list_resources().resources}
    assert set(resources) == {MODEL_CARD_URI, DRIFT_URI, OPENAPI_URI}
    assert all(resource.mime_type == "application/json" for resource in resources.values())

    prompts = [prompt.name for prompt in mcp.list_prompts().prompts]
    assert prompts == ["model_health_review"]


def test_classify_one_and_many_samples(mcp: Client) -> None:
    one = call(mcp, "classify_iris", {"samples": [SETOSA]})
    assert one["count"] == 1
    assert one["predictions"][0]["predicted_class"] == "setosa"

    many = call(mcp, "classify_iris", {"samples": [SETOSA, VIRGINICA, SETOSA]})
    assert [p["predicted_class"] for p in many["predictions"]] == ["setosa", "virginica",
                                                                   "setosa"]
    # The same exact cache as the API: the setosa row was answered a moment ago.
    assert many["predictions"][0]["cache_hit"] is True
    assert many["cache_hits"] >= 2


def test_classify_invalid_measurement_names_the_field(mcp: Client) -> None:
    message = tool_error(mcp, "classify_iris",
                         {"samples": [SETOSA, {**VIRGINICA, "petal_width": -1}]})
    assert message.startswith("Validation Failed (422): invalid fields: samples.1.petal_width")
    assert "Input should be greater than" in message

    message = tool_error(mcp, "classify_iris", {"samples": [{**SETOSA, "petal_width": "wide"}]})
    assert "samples.0.petal_width" in message


def test_generate_text(mcp: Client) -> None:
    arguments = {"prompt": "Name one colour.", "max_tokens": 8, "temperature": 0, "seed": 7}
    answer = call(mcp, "generate_text", arguments)
    assert answer["response"].strip()
    assert answer["backend"] in {"llamacpp", "ollama"}
    assert 1 <= answer["completion_tokens"] <= 8
    assert answer["finish_reason"] in {"stop", "length"}


def test_generate_text_rejects_bad_arguments(mcp: Client) -> None:
    message = tool_error(mcp, "generate_text", {"prompt": "Hi", "max_tokens": 0})
    assert message.startswith("Validation Failed (422): invalid fields: max_tokens")
    message = tool_error(mcp, "generate_text", {"prompt": "   "})
    assert message.startswith("Validation Failed (422): invalid fields: prompt")
    assert "non-whitespace" in message


def test_chat_remembers_the_session(mcp: Client) -> None:
    first = call(mcp, "chat", {"prompt": "My name is Ada.", "max_tokens": 8, "temperature": 0})
    assert first["response"].strip()
    assert first["conversation_length"] == 1
    session = first["session_id"]
    second = call(mcp, "chat", {"prompt": "What is my name?", "session_id": session,
                                "max_tokens": 8, "temperature": 0})
    assert second["session_id"] == session
    assert second["conversation_length"] == 2
    assert second["memory_stats"]["human_messages"] == 2


def test_chat_rejects_a_bad_session_id(mcp: Client) -> None:
    message = tool_error(mcp, "chat", {"prompt": "Hi", "session_id": "no spaces allowed"})
    assert message.startswith("Validation Failed (422): invalid fields: session_id")


def test_semantic_cache_stats(mcp: Client) -> None:
    stats = call(mcp, "semantic_cache_stats", {})
    assert stats["requests"] >= 0
    assert {"hits", "misses", "entries"} <= set(stats["exact"])
    assert 0 < stats["semantic"]["threshold"] <= 1
    # Its failure (Redis or the API down) is in test_url_mode_reports_services_that_are_down.


def test_drift_report(mcp: Client) -> None:
    # Too few logged classifications: a report, flagged as not to be trusted yet.
    early = call(mcp, "drift_report", {"limit": 10})
    assert early["data_summary"]["sufficient_samples"] is False
    assert early["recommendations"]["retrain_model"] is False
    message = tool_error(mcp, "drift_report", {"limit": 0})
    assert message.startswith("Validation Failed (422): invalid fields: limit")

    # 60 flowers whose petals are far longer than any in the training data.
    shifted = [{**VIRGINICA, "petal_length": 20.0 + i / 10} for i in range(60)]
    call(mcp, "classify_iris", {"samples": shifted})
    report = call(mcp, "drift_report", {"limit": 60})
    assert report["data_summary"]["analyzed_samples"] == 60
    assert report["drift_analysis"]["feature_drift_scores"]["petal_length"]["drift_detected"]
    assert "petal_length" in report["recommendations"]["investigate_features"]

    summary = json.loads(mcp.read_resource(DRIFT_URI).contents[0].text)
    assert summary["drift_analysis"]["feature_drift_scores"]["petal_length"]["drift_detected"]


def test_list_models(mcp: Client, registered: None) -> None:
    models = {m["name"]: m for m in call(mcp, "list_models", {})["models"]}
    assert set(models) == set(MODEL_NAMES.values())
    for model in models.values():
        assert model["aliases"] == {"production": "1", "staging": "1"}
        assert model["versions"][0]["aliases"] == ["production", "staging"]


def test_set_model_alias_only_when_enabled(writer: Client, registered: None) -> None:
    tools = {tool.name: tool for tool in writer.list_tools().tools}
    assert "set_model_alias" in tools
    assert tools["set_model_alias"].annotations.destructive_hint is True
    names = tools["set_model_alias"].input_schema["properties"]["name"]["enum"]
    assert set(names) == set(MODEL_NAMES.values())

    move = call(writer, "set_model_alias", {"name": "iris-classifier-onnx", "version": "1",
                                            "alias": "champion", "note": "review"})
    assert (move["alias"], move["from_version"], move["to_version"]) == ("champion", None, "1")
    assert move["who"].startswith("mcp")
    models = {m["name"]: m for m in call(writer, "list_models", {})["models"]}
    assert models["iris-classifier-onnx"]["aliases"] == {
        "production": "1", "staging": "1", "champion": "1"}

    message = tool_error(writer, "set_model_alias",
                         {"name": "iris-classifier-onnx", "version": "99", "alias": "staging"})
    assert message.startswith("Not Found (404): setting alias staging of iris-classifier-onnx")
    message = tool_error(writer, "set_model_alias",
                         {"name": "iris-classifier-onnx", "version": "1", "alias": "a b"})
    assert message.startswith("Validation Failed (422): invalid fields: alias")


def test_model_card_resource(mcp: Client) -> None:
    contents = mcp.read_resource(MODEL_CARD_URI).contents[0]
    card = json.loads(contents.text)
    assert card["model_name"] == "iris-classifier"
    assert card["feature_names"] == list(SETOSA)
    assert 0.8 < card["test_accuracy"] <= 1.0


def test_openapi_resource_is_the_api_document(mcp: Client) -> None:
    document = json.loads(mcp.read_resource(OPENAPI_URI).contents[0].text)
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/classify" in document["paths"]


def test_model_health_review_prompt_embeds_the_documents(mcp: Client) -> None:
    prompt = mcp.get_prompt("model_health_review", {"focus": "petal_length drift"})
    intro = prompt.messages[0].content.text
    assert "iris-classifier" in intro and "petal_length drift" in intro
    attached = {str(m.content.resource.uri): m.content.resource.text
                for m in prompt.messages[1:]}
    assert json.loads(attached[MODEL_CARD_URI])["model_name"] == "iris-classifier"
    # The drift summary is attached once enough predictions are logged, else explained.
    if DRIFT_URI in attached:
        assert "drift_analysis" in json.loads(attached[DRIFT_URI])
    else:
        assert f"{DRIFT_URI} is not attached: Conflict (409)" in intro


def test_url_mode_calls_a_running_api(server_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(gunicorn_argv(port, workers=1, threads=2), server_env, f"{url}/health"), \
            start_blocking_portal() as portal, ExitStack() as stack:
        client = connect(stack, portal, stdio(["--url", url], {}, tmp_path / "mcp.log"))
        answer = call(client, "classify_iris", {"samples": [VIRGINICA]})
        assert answer["predictions"][0]["predicted_class"] == "virginica"
        document = json.loads(client.read_resource(OPENAPI_URI).contents[0].text)
        assert "/api/v1/model-card" in document["paths"]
        card = json.loads(client.read_resource(MODEL_CARD_URI).contents[0].text)
        assert card["model_version"] == answer["model_version"]
        assert call(client, "semantic_cache_stats", {})["requests"] >= 0
        # The API's answer comes back as is: here a report on at most 10 rows, flagged.
        early = call(client, "drift_report", {"limit": 10})
        assert 1 <= early["data_summary"]["analyzed_samples"] <= 10
        assert early["data_summary"]["sufficient_samples"] is False


def test_model_card_route(client: Any) -> None:
    response = client.get("/api/v1/model-card")
    assert response.status_code == 200
    card = ModelCard.model_validate(response.get_json())  # the documented schema
    assert card.model_name == "iris-classifier"
    assert card.class_names == ["setosa", "versicolor", "virginica"]


def test_url_mode_reports_services_that_are_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    with start_blocking_portal() as portal, ExitStack() as stack:
        client = connect(stack, portal, stdio(["--url", url], env, tmp_path / "mcp.log"))
        down = f"Service Unavailable (503): the API at {url} did not answer"
        for tool, arguments in [("classify_iris", {"samples": [SETOSA]}),
                                ("generate_text", {"prompt": "Hi"}),
                                ("chat", {"prompt": "Hi"}),
                                ("semantic_cache_stats", {}),
                                ("drift_report", {})]:
            message = tool_error(client, tool, arguments)
            assert message.startswith(down), tool
            assert "retry after" in message
        message = tool_error(client, "list_models", {})
        assert message.startswith("Service Unavailable (503): listing registered models: "
                                  "MLflow registry at")


def test_streamable_http_transport(server_env: dict[str, str]) -> None:
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    argv = [sys.executable, SERVER, "--http", "--port", str(port)]
    with running(argv, server_env, url), start_blocking_portal() as portal, \
            ExitStack() as stack:
        client = connect(stack, portal, streamable_http_client(url))
        answer = call(client, "classify_iris", {"samples": [SETOSA]})
        assert answer["predictions"][0]["predicted_class"] == "setosa"
