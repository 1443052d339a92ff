"""A Model Context Protocol server for the back end's capabilities (official ``mcp`` SDK).

MCP clients (desktop assistants, IDE agents) reach the same service layer as the HTTP API:
in-process through ``build_services()`` (the default), or over HTTP against a running API with
``--url``. Either way it is a ``Backend`` (``mcp_backends.py``), so the tools, resources and
the prompt are written once. Service errors become MCP tool errors with the API's reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer, UserMessage
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import EmbeddedResource, TextResourceContents, ToolAnnotations
from pydantic import Field, ValidationError

from ai_backends import __version__
from ai_backends.chat.memory import SESSION_ID_PATTERN
from ai_backends.chat.schemas import CacheStatsResponse, ChatRequest, ChatResponse
from ai_backends.classify.names import MODEL_NAME, ONNX_MODEL, SKLEARN_MODEL
from ai_backends.classify.schemas import MAX_BATCH_SIZE, BatchClassification, IrisFeatures
from ai_backends.core.errors import InvalidInput, ServiceError, Unavailable
from ai_backends.llm.schemas import (
    DEFAULT_MAX_TOKENS,
    MAX_PROMPT_CHARS,
    GenerateRequest,
    GenerateResponse,
)
from ai_backends.llm.service import MAX_TOKENS_LIMIT, SEED_LIMIT, TEMPERATURE_LIMIT
from ai_backends.mcp.backends import Backend, HttpBackend, LocalBackend, who
from ai_backends.mcp.schemas import AliasMove, ModelList
from ai_backends.mcp.texts import HEALTH_REVIEW_FOCUS, HEALTH_REVIEW_INTRO, SERVER_INSTRUCTIONS
from ai_backends.mlops.schemas import DRIFT_LIMIT_MAX, DriftQuery, DriftReport

SERVER_NAME = "ai-backends"
MODEL_CARD_URI = f"ai-backends://models/{MODEL_NAME}/card"
OPENAPI_URI = "ai-backends://openapi.json"
DRIFT_URI = "ai-backends://drift/latest"
DRIFT_LIMIT_DEFAULT = DriftQuery().limit
# Sampling parameters of generate_text and chat: the bounds of the API's request schemas.
MaxTokens = Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT, description="Most tokens to generate.")]
Temperature = Annotated[float, Field(ge=0.0, le=TEMPERATURE_LIMIT,
                                     description="Sampling temperature; 0 is greedy.")]
Seed = Annotated[int | None, Field(ge=0, le=SEED_LIMIT,
                                   description="Random seed: the same seed, prompt and "
                                               "temperature give the same text.")]
# The registered names (classify.names), as a Literal so the input schema lists them.
RegisteredName = Literal[SKLEARN_MODEL, ONNX_MODEL]  # type: ignore[valid-type]
JSON = "application/json"


def describe_error(exc: ServiceError) -> str:
    """The reason the API gives for ``exc``, as one line for an MCP client."""
    text = f"{exc.title} ({exc.status}): {exc.detail}"
    fields = [f"{e.get('field')}: {e.get('message')}" for e in exc.extra.get("errors") or []]
    if fields:
        text += " [" + "; ".join(fields) + "]"
    if isinstance(exc, Unavailable):
        text += f" (retry after {exc.retry_after} s)"
    return text


@contextmanager
def reported(error_type: type[Exception]) -> Iterator[None]:
    """Re-raise a ``ServiceError`` as the SDK's tool or resource error, with the API's reason.

    The SDK shows the message of a ``ToolError``/``ResourceError`` to the client and hides
    everything else behind "Error executing tool ..." (with the traceback in our log only).
    """
    try:
        yield
    except ServiceError as exc:
        raise error_type(describe_error(exc)) from None  # the reason, not the traceback
    except ValidationError as exc:  # a request model built in the tool body
        raise error_type(describe_error(invalid_input(exc))) from None


class ServiceToolError(ToolError):
    """A ``ServiceError`` reported by a tool, worded as the API words it."""


class ServiceMCPServer(MCPServer[Any]):
    """``MCPServer`` whose argument errors read like the API's 422 problems."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Any = None) -> Any:
        """Call a tool; a schema violation names each field as ``POST /api/v1/...`` does."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                # The SDK checked the arguments against the same pydantic models as the API.
                raise ToolError(describe_error(invalid_input(cause))) from cause
            if isinstance(cause, ServiceToolError):
                raise ToolError(str(cause)) from cause  # without the SDK's "Error executing"
            raise


def invalid_input(exc: ValidationError) -> InvalidInput:
    """The ``InvalidInput`` the API raises for a pydantic error: one entry per field."""
    from ai_backends.api.problems import field_errors

    errors = field_errors(exc)
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return InvalidInput(f"invalid fields: {fields}", errors=errors)


def build_server(backend: Backend, allow_registry_writes: bool = False) -> MCPServer[Any]:
    """The MCP server: tools, resources and the prompt, all calling ``backend``.

    ``set_model_alias`` changes which model version production serves, so it is only
    registered when ``allow_registry_writes`` is given.
    """
    server = ServiceMCPServer(SERVER_NAME, version=__version__, instructions=SERVER_INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    def classify_iris(
        samples: Annotated[list[IrisFeatures], Field(
            min_length=1, max_length=MAX_BATCH_SIZE,
            description="One or more flowers (up to 1000), each with its four measurements "
                        "in centimetres (bounds in the schema, at most 100).",
        )],
    ) -> BatchClassification:
        """Classify Iris flowers with the served ONNX model (exact answers are cached).

        Returns one prediction per sample, in order: the class, its probability
        (confidence), all class probabilities, the model version and whether the answer
        came from the cache.
        """
        with reported(ServiceToolError):
            answer = backend.classify([sample.as_row() for sample in samples])
        return BatchClassification.model_validate(answer)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False,
                                             idempotent_hint=False))
    def generate_text(
        prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS,
                                     description="The text to complete or answer.")],
        max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
        temperature: Temperature = 0.7,
        seed: Seed = None,
    ) -> GenerateResponse:
        """Generate text with the service's local LLM (llama.cpp or Ollama).

        Returns the text, the backend and model that wrote it, token counts, latency and
        why it stopped ("stop", or "length" when max_tokens was reached).
        """
        with reported(ServiceToolError):
            request = GenerateRequest(prompt=prompt, max_tokens=max_tokens,
                                      temperature=temperature, seed=seed, stream=False)
            answer = backend.generate(request)
        return GenerateResponse.model_validate(answer)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                             idempotent_hint=False, open_world_hint=False))
    def chat(
        prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS,
                                     description="What to say in the conversation.")],
        session_id: Annotated[str | None, Field(
            pattern=SESSION_ID_PATTERN,
            description="Conversation to continue (8-64 letters, digits, '-' or '_'); omit "
                        "it to start a new one, whose id comes back.")] = None,
        max_tokens: MaxTokens = DEFAULT_MAX_TOKENS,
        temperature: Temperature = 0.7,
        seed: Seed = None,
    ) -> ChatResponse:
        """Chat with the local LLM; the session remembers its recent turns (in Redis).

        Returns the answer, the session id to pass next time, the number of messages in
        the conversation, what the stored window holds, the model and the latency.
        """
        with reported(ServiceToolError):
            request = ChatRequest(prompt=prompt, session_id=session_id, max_tokens=max_tokens,
                                  temperature=temperature, seed=seed, stream=False)
            return ChatResponse.model_validate(backend.chat(request))

    @server.tool(annotations=read_only)
    def semantic_cache_stats() -> CacheStatsResponse:
        """Statistics of the chat caches (exact and semantic), counted across all workers.

        Returns requests, hit rates of each tier, near misses refused by the guard, mean
        similarity of semantic hits, entries, threshold, eviction policy, latency of hits
        and misses, and the generation time the caches saved.
        """
        with reported(ServiceToolError):
            return CacheStatsResponse.model_validate(backend.cache_stats())

    @server.tool(annotations=read_only)
    def drift_report(
        limit: Annotated[int, Field(ge=1, le=DRIFT_LIMIT_MAX,
                                    description="Compare the last N logged classifications.")]
        = DRIFT_LIMIT_DEFAULT,
    ) -> DriftReport:
        """Compare recent classifications with the training data (Evidently drift tests).

        Returns per-feature drift (test, p-value, threshold), drift of the predicted classes,
        how many rows were compared and a recommendation (monitoring status, retrain or
        not, which features to investigate). Needs at least DRIFT_MIN_SAMPLES (30) logged
        classifications.
        """
        with reported(ServiceToolError):
            return DriftReport.model_validate(backend.drift_report(limit))

    @server.tool(annotations=read_only)
    def list_models() -> ModelList:
        """List the models of the MLflow registry with their versions and aliases.

        Each version shows its aliases (e.g. production), stage, status, creation time,
        training run, recorded accuracy, data hash and git commit.
        """
        with reported(ServiceToolError):
            return ModelList.model_validate({"models": backend.registry().list_models()})

    if allow_registry_writes:
        @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                                 idempotent_hint=True, open_world_hint=False))
        def set_model_alias(
            name: Annotated[RegisteredName, Field(description="Registered model name.")],
            version: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,8}$",
                                          description="Version number to point the alias at.")],
            alias: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                        description="Alias to set, e.g. production or "
                                                    "staging.")],
            note: Annotated[str, Field(max_length=500,
                                       description="Why, kept in the alias history.")] = "",
        ) -> AliasMove:
            """Point a registry alias at a model version (production aliases are served).

            The move is recorded in the registry's alias history with the previous version,
            so it can be undone by setting the alias back.
            """
            with reported(ServiceToolError):
                move = backend.registry().set_alias(name, version, alias, who(), note)
            return AliasMove.model_validate(move)

    def model_card() -> str:
        with reported(ResourceError):
            return json.dumps(backend.model_card(), indent=2)

    def drift_summary() -> str:
        with reported(ResourceError):
            return json.dumps(backend.drift_report(DRIFT_LIMIT_DEFAULT), indent=2)

    def openapi_document() -> str:
        with reported(ResourceError):
            return json.dumps(backend.openapi(), indent=2)

    server.resource(MODEL_CARD_URI, name="model-card", title="Iris classifier model card",
                    description="Training metadata of the served classifier: type, version, "
                                "parameters, hold-out accuracy, features, classes, date.",
                    mime_type=JSON)(model_card)
    server.resource(DRIFT_URI, name="drift-latest", title="Latest drift summary",
                    description=f"Drift report of the last {DRIFT_LIMIT_DEFAULT} logged "
                                "classifications against the training data.",
                    mime_type=JSON)(drift_summary)
    server.resource(OPENAPI_URI, name="openapi", title="OpenAPI document of the HTTP API",
                    description="The OpenAPI 3.1 document of every HTTP route and schema.",
                    mime_type=JSON)(openapi_document)

    @server.prompt(name="model_health_review", title="Model health review")
    def model_health_review(
        focus: Annotated[str | None, Field(
            description="Something to look at in particular, e.g. 'petal_length drift'.",
        )] = None,
    ) -> list[UserMessage]:
        """Ask for a review of the served model from its model card and drift summary."""
        documents, attached, missing = [], [], []
        for uri, read in ((MODEL_CARD_URI, model_card), (DRIFT_URI, drift_summary)):
            try:
                text = read()
            except ResourceError as exc:  # e.g. too few predictions for a drift report
                missing.append(f"Note: {uri} is not attached: {exc}\n")
                continue
            attached.append(uri)
            documents.append(UserMessage(EmbeddedResource(
                resource=TextResourceContents(uri=uri, mime_type=JSON, text=text))))
        intro = HEALTH_REVIEW_INTRO.format(
            model_name=MODEL_NAME,
            attached=", ".join(attached) or "none",
            missing="".join(missing),
            focus=HEALTH_REVIEW_FOCUS.format(focus=focus) if focus else "",
        )
        return [UserMessage(intro), *documents]

    return server


def create_backend(url: str | None) -> Backend:
    """An ``HttpBackend`` for ``url``, else a ``LocalBackend`` on a fresh app."""
    if url:
        from ai_backends.core.config import load_config

        return HttpBackend(url, api_key=load_config()["MCP_API_KEY"])
    from ai_backends.services import build_services

    return LocalBackend(build_services())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the MCP server."""
    from ai_backends.core.config import load_config

    parser = argparse.ArgumentParser(
        description="MCP server for ai-backends-py: stdio by default, streamable HTTP with --http.")
    parser.add_argument("--http", action="store_true",
                        help="serve streamable HTTP on 127.0.0.1 instead of stdio")
    parser.add_argument("--port", type=int, default=load_config()["MCP_PORT"],
                        help="port of the streamable HTTP transport (default: MCP_PORT)")
    parser.add_argument("--allow-registry-writes", action="store_true",
                        help="register the set_model_alias tool (it changes the registry)")
    parser.add_argument("--url", default=None,
                        help="base URL of a running API to call, e.g. http://127.0.0.1:5001 "
                             "(default: run the services in this process)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the MCP server until the client disconnects (stdio) or Ctrl-C (HTTP)."""
    args = parse_args(argv)
    # Over stdio, stdout carries the protocol: whatever a library prints while the app is
    # built goes to stderr instead (the SDK diverts stdout itself once it serves).
    with redirect_stdout(sys.stderr):
        backend = create_backend(args.url)
    server = build_server(backend, args.allow_registry_writes)
    if args.http:
        # 127.0.0.1 only: the tools run models and, when enabled, change the registry.
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run("stdio")
