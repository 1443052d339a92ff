"""A Model Context Protocol server for the back end's capabilities (official ``mcp`` SDK).

MCP clients (desktop assistants, IDE agents) reach the same service layer as the HTTP API:
in-process through ``create_app()`` (the default), or over HTTP against a running API with
``--url``. Both sides are a ``Backend``; the tools, resources and the prompt are written once
on top of it. Service errors become MCP tool errors carrying the API's own reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Protocol

from mcp.server.mcpserver import MCPServer, UserMessage
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import EmbeddedResource, TextResourceContents, ToolAnnotations
from pydantic import Field, ValidationError

from . import __version__
from .classifier import MODEL_NAME
from .errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
)
from .llm.service import MAX_TOKENS_LIMIT, SEED_LIMIT, TEMPERATURE_LIMIT
from .mcp_texts import HEALTH_REVIEW_FOCUS, HEALTH_REVIEW_INTRO, SERVER_INSTRUCTIONS
from .schemas.classification import MAX_BATCH_SIZE, BatchClassification, IrisFeatures
from .schemas.generation import (
    DEFAULT_MAX_TOKENS,
    MAX_PROMPT_CHARS,
    GenerateRequest,
    GenerateResponse,
)

log = logging.getLogger(__name__)

SERVER_NAME = "ai-backends"
MODEL_CARD_URI = f"ai-backends://models/{MODEL_NAME}/card"
OPENAPI_URI = "ai-backends://openapi.json"
SPEC_PATH = "/openapi/openapi.json"  # same as factory.SPEC_PATH, without importing Flask here
JSON = "application/json"


class Backend(Protocol):
    """What the MCP tools need from the service, whichever way it is reached."""

    def classify(self, rows: list[list[float]]) -> dict[str, Any]:
        """Classify feature rows; the batch answer of ``POST /api/v1/classify``."""
        ...

    def generate(self, request: GenerateRequest) -> dict[str, Any]:
        """Complete a prompt; the answer of ``POST /api/v1/generate``."""
        ...

    def model_card(self) -> dict[str, Any]:
        """The served classifier's training metadata (the model card)."""
        ...

    def openapi(self) -> dict[str, Any]:
        """The API's OpenAPI document."""
        ...


def request_id() -> str:
    """A request id for one MCP call; the prediction log and API logs carry it."""
    return f"mcp-{uuid.uuid4().hex[:16]}"


class LocalBackend:
    """Calls the services of an app built by ``create_app`` in this process."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @contextmanager
    def _context(self) -> Iterator[None]:
        # Tools run on worker threads: each call pushes its own app context.
        with self.app.app_context():
            yield

    def classify(self, rows: list[list[float]]) -> dict[str, Any]:
        """Classify through the ``ClassificationService`` (cache, model, prediction log)."""
        from .extensions import classification

        with self._context():
            predictions = classification().classify(rows, "mcp-classify", request_id())
        return batch_answer([p.to_dict() for p in predictions])

    def generate(self, request: GenerateRequest) -> dict[str, Any]:
        """Generate through the app's LLM service, with the API's system prompt."""
        from .extensions import llm
        from .llm.prompts import GENERATE_SYSTEM_PROMPT
        from .llm.service import single_turn
        from .schemas.generation import generation_dict

        with self._context():
            messages = single_turn(GENERATE_SYSTEM_PROMPT, request.prompt)
            return generation_dict(llm().generate(messages, request.params()))

    def model_card(self) -> dict[str, Any]:
        """The metadata JSON written next to the ONNX model by training."""
        from .extensions import classification

        with self._context():
            return dict(classification().model.metadata)

    def openapi(self) -> dict[str, Any]:
        """The document the API serves at /openapi/openapi.json."""
        response = self.app.test_client().get(SPEC_PATH)
        document: dict[str, Any] = response.get_json()
        return document


class HttpBackend:
    """Calls a running API over HTTP; its problem bodies come back as ``ServiceError``s."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        url = f"{self.base_url}{path}"
        try:
            response = self.http.request(method, url, json=body, timeout=self.timeout,
                                         headers={"X-Request-ID": request_id()})
        except requests.RequestException as exc:
            raise Unavailable(
                f"the API at {self.base_url} did not answer ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise error_from_problem(response.status_code, _json_or_none(response),
                                     response.headers.get("Retry-After"))
        return response.json()

    def classify(self, rows: list[list[float]]) -> dict[str, Any]:
        """``POST /api/v1/classify`` with the batch form."""
        samples = [dict(zip(IrisFeatures.model_fields, row, strict=True)) for row in rows]
        answer: dict[str, Any] = self._call("POST", "/api/v1/classify", {"samples": samples})
        return answer

    def generate(self, request: GenerateRequest) -> dict[str, Any]:
        """``POST /api/v1/generate`` (not streamed)."""
        answer: dict[str, Any] = self._call("POST", "/api/v1/generate",
                                            request.model_dump(exclude={"stream"}))
        return answer

    def model_card(self) -> dict[str, Any]:
        """Not served over HTTP yet: the API has no route for the model metadata."""
        raise Unavailable("the API has no model card route; run the MCP server without --url",
                          retry_after=3600)

    def openapi(self) -> dict[str, Any]:
        """``GET /openapi/openapi.json``."""
        document: dict[str, Any] = self._call("GET", SPEC_PATH)
        return document


def _json_or_none(response: Any) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


_ERRORS_BY_STATUS: dict[int, type[ServiceError]] = {
    400: BadRequest, 404: NotFound, 409: Conflict, 422: InvalidInput, 503: Unavailable,
}


def error_from_problem(status: int, problem: dict[str, Any] | None,
                       retry_after: str | None = None) -> ServiceError:
    """Turn an RFC 9457 problem answer of the API back into the service error it came from."""
    problem = problem or {}
    detail = str(problem.get("detail") or f"the API answered HTTP {status}")
    kind = _ERRORS_BY_STATUS.get(status)
    error: ServiceError
    if kind is InvalidInput:
        error = InvalidInput(detail, errors=problem.get("errors"))
    elif kind is Unavailable:
        error = Unavailable(detail, retry_after=int(retry_after or 5))
    elif kind is not None:
        error = kind(detail)
    else:  # 413, 415, 500...: keep the API's own status and title
        error = ServiceError(detail)
        error.status = status
        error.title = str(problem.get("title") or f"HTTP {status}")
    return error


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


def batch_answer(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch answer of ``POST /api/v1/classify`` for a list of predictions."""
    return {
        "predictions": predictions,
        "count": len(predictions),
        "cache_hits": sum(bool(p["cache_hit"]) for p in predictions),
        "model_version": predictions[0]["model_version"],
    }


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
    from .api.problems import field_errors

    errors = field_errors(exc)
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return InvalidInput(f"invalid fields: {fields}", errors=errors)


def build_server(backend: Backend) -> MCPServer[Any]:
    """The MCP server: tools, resources and the prompt, all calling ``backend``."""
    server = ServiceMCPServer(SERVER_NAME, version=__version__, instructions=SERVER_INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    def classify_iris(
        samples: Annotated[list[IrisFeatures], Field(
            min_length=1, max_length=MAX_BATCH_SIZE,
            description="One or more flowers (up to 1000), each with its four measurements "
                        "in centimetres, 0 < x <= 100.",
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
        max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT,
                                         description="Most tokens to generate.")]
        = DEFAULT_MAX_TOKENS,
        temperature: Annotated[float, Field(ge=0.0, le=TEMPERATURE_LIMIT,
                                            description="Sampling temperature; 0 is greedy.")]
        = 0.7,
        seed: Annotated[int | None, Field(ge=0, le=SEED_LIMIT,
                                          description="Random seed: the same seed, prompt "
                                                      "and temperature give the same text.")]
        = None,
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

    def model_card() -> str:
        with reported(ResourceError):
            return json.dumps(backend.model_card(), indent=2)

    def openapi_document() -> str:
        with reported(ResourceError):
            return json.dumps(backend.openapi(), indent=2)

    server.resource(MODEL_CARD_URI, name="model-card", title="Iris classifier model card",
                    description="Training metadata of the served classifier: type, version, "
                                "parameters, hold-out accuracy, features, classes, date.",
                    mime_type=JSON)(model_card)
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
        attached = {MODEL_CARD_URI: model_card}
        messages = [
            UserMessage(EmbeddedResource(resource=TextResourceContents(
                uri=uri, mime_type=JSON, text=read())))
            for uri, read in attached.items()
        ]
        intro = HEALTH_REVIEW_INTRO.format(
            model_name=MODEL_NAME,
            attached=", ".join(attached),
            focus=HEALTH_REVIEW_FOCUS.format(focus=focus) if focus else "",
        )
        return [UserMessage(intro), *messages]

    return server


def create_backend(url: str | None) -> Backend:
    """An ``HttpBackend`` for ``url``, else a ``LocalBackend`` on a fresh app."""
    if url:
        return HttpBackend(url)
    from .factory import create_app

    return LocalBackend(create_app())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the MCP server."""
    from .config import load_config

    parser = argparse.ArgumentParser(
        description="MCP server for ai-backends-py: stdio by default, streamable HTTP with --http.")
    parser.add_argument("--http", action="store_true",
                        help="serve streamable HTTP on 127.0.0.1 instead of stdio")
    parser.add_argument("--port", type=int, default=load_config()["MCP_PORT"],
                        help="port of the streamable HTTP transport (default: MCP_PORT)")
    parser.add_argument("--url", default=None,
                        help="base URL of a running API to call, e.g. http://127.0.0.1:5001 "
                             "(default: run the services in this process)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the MCP server until the client disconnects (stdio) or Ctrl-C (HTTP)."""
    args = parse_args(argv)
    server = build_server(create_backend(args.url))
    if args.http:
        # 127.0.0.1 only: the tools run models and, when enabled, change the registry.
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run("stdio")
