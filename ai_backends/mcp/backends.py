"""How the MCP server reaches the service: in this process, or a running API over HTTP.

Both backends answer with the API's response bodies and raise the API's ``ServiceError``s,
so the MCP tools are written once for either.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from ai_backends.chat.schemas import ChatRequest
from ai_backends.classify.schemas import IrisFeatures
from ai_backends.core.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
)
from ai_backends.core.tenancy import DEFAULT_TENANT
from ai_backends.llm.schemas import GenerateRequest
from ai_backends.mlops.registry import ModelRegistry, current_user

if TYPE_CHECKING:
    from ai_backends.services import Services

# Alias moves made through MCP say so in the registry's history.
WHO = "mcp"

SPEC_PATH = "/openapi/openapi.json"  # factory.SPEC_PATH; not imported, to keep Flask lazy


class Backend(Protocol):
    """What the MCP tools need from the service, whichever way it is reached."""

    def classify(self, rows: list[list[float]]) -> dict[str, Any]:
        """Classify feature rows; the batch answer of ``POST /api/v1/classify``."""
        ...

    def generate(self, request: GenerateRequest) -> dict[str, Any]:
        """Complete a prompt; the answer of ``POST /api/v1/generate``."""
        ...

    def chat(self, request: ChatRequest) -> dict[str, Any]:
        """One turn of a conversation; the answer of ``POST /api/v1/chat``."""
        ...

    def cache_stats(self) -> dict[str, Any]:
        """Chat cache analytics; ``GET /api/v1/cache/stats``."""
        ...

    def drift_report(self, limit: int) -> dict[str, Any]:
        """Drift of the last ``limit`` classifications; ``GET /api/v1/drift-report``."""
        ...

    def registry(self) -> ModelRegistry:
        """The MLflow model registry (reached directly in both modes, as the CLI does)."""
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
    """Calls the services built by ``build_services`` in this process (no Flask context)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def classify(self, rows: list[list[float]]) -> dict[str, Any]:
        """Classify through the ``ClassificationService`` (cache, model, prediction log)."""
        predictions = self.services.classification.classify(rows, "mcp-classify", request_id())
        return batch_answer([p.to_dict() for p in predictions])

    def generate(self, request: GenerateRequest) -> dict[str, Any]:
        """Generate through the LLM service, with the API's system prompt."""
        from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT
        from ai_backends.llm.schemas import generation_dict
        from ai_backends.llm.service import single_turn

        messages = single_turn(GENERATE_SYSTEM_PROMPT, request.prompt)
        return generation_dict(self.services.llm.generate(messages, request.params()))

    def chat(self, request: ChatRequest) -> dict[str, Any]:
        """A turn through the ``ChatService`` (Redis memory, then the LLM)."""
        from ai_backends.api.v1.chat import turn_dict

        turn = self.services.chat().chat(DEFAULT_TENANT, request.prompt, request.session_id,
                                         request.params())
        return turn_dict(turn)

    def cache_stats(self) -> dict[str, Any]:
        """The statistics of the ``SemanticChatService`` (counted in Redis)."""
        return self.services.semantic_chat().statistics(DEFAULT_TENANT)

    def drift_report(self, limit: int) -> dict[str, Any]:
        """Run the ``DriftService`` with the route's own limit check."""
        maximum = self.services.config["DRIFT_MAX_SAMPLES"]
        if limit > maximum:  # as GET /api/v1/drift-report answers
            raise InvalidInput(f"limit must be at most {maximum} (DRIFT_MAX_SAMPLES)", errors=[
                {"field": "limit", "message": f"at most {maximum}",
                 "type": "less_than_equal"}])
        return self.services.drift.report(limit)

    def registry(self) -> ModelRegistry:
        """The registry client that registry inference uses."""
        return self.services.registry.registry

    def model_card(self) -> dict[str, Any]:
        """The metadata JSON written next to the ONNX model by training."""
        return dict(self.services.classification.model.metadata)

    def openapi(self) -> dict[str, Any]:
        """The document the API serves at /openapi/openapi.json, built on the same services."""
        from ai_backends.api.app import create_app

        response = create_app(services=self.services).test_client().get(SPEC_PATH)
        document: dict[str, Any] = response.get_json()
        return document


class HttpBackend:
    """Calls a running API over HTTP; its problem bodies come back as ``ServiceError``s."""

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 60.0) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        if api_key:  # needed when the API runs with API_KEYS
            self.http.headers["X-API-Key"] = api_key
        self._registry: ModelRegistry | None = None

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

    def chat(self, request: ChatRequest) -> dict[str, Any]:
        """``POST /api/v1/chat`` (not streamed)."""
        answer: dict[str, Any] = self._call("POST", "/api/v1/chat",
                                            request.model_dump(exclude={"stream"}))
        return answer

    def cache_stats(self) -> dict[str, Any]:
        """``GET /api/v1/cache/stats``."""
        stats: dict[str, Any] = self._call("GET", "/api/v1/cache/stats")
        return stats

    def drift_report(self, limit: int) -> dict[str, Any]:
        """``GET /api/v1/drift-report?limit=...``."""
        report: dict[str, Any] = self._call("GET", f"/api/v1/drift-report?limit={limit}")
        return report

    def registry(self) -> ModelRegistry:
        """The registry at ``MLFLOW_TRACKING_URI``: the API has no registry routes."""
        if self._registry is None:
            from ai_backends.core.config import load_config

            self._registry = ModelRegistry.from_config(load_config())
        return self._registry

    def model_card(self) -> dict[str, Any]:
        """``GET /api/v1/model-card``."""
        card: dict[str, Any] = self._call("GET", "/api/v1/model-card")
        return card

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


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


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
        error.title = str(problem.get("title") or _reason_phrase(status))
    return error


def batch_answer(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch answer of ``POST /api/v1/classify`` for a list of predictions."""
    return {
        "predictions": predictions,
        "count": len(predictions),
        "cache_hits": sum(bool(p["cache_hit"]) for p in predictions),
        "model_version": predictions[0]["model_version"],
    }


def who() -> str:
    """How an alias move made through MCP is signed in the registry's history."""
    return f"{WHO} ({current_user()})"
