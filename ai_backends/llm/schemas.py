"""Requests and responses of the text-generation endpoints (v1 and v2)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ai_backends.core.schemas import integral_number
from ai_backends.llm import Generation, GenerationParams
from ai_backends.llm.service import MAX_TOKENS_LIMIT, SEED_LIMIT, TEMPERATURE_LIMIT

MAX_PROMPT_CHARS = 4000
# The secure endpoint reads up to twice the limit, then sanitization cuts it to the limit.
MAX_SECURE_INPUT_CHARS = 2 * MAX_PROMPT_CHARS
DEFAULT_MAX_TOKENS = 128
# Integers that accept 8.0 as 8 but not "8", 8.5 or true; bounds inside, so the OpenAPI
# document shows them on the integer (also when the field is optional).
MaxTokens = Annotated[int, Field(strict=True, ge=1, le=MAX_TOKENS_LIMIT),
                      BeforeValidator(integral_number)]
Seed = Annotated[int, Field(strict=True, ge=0, le=SEED_LIMIT), BeforeValidator(integral_number)]
# How the 200 answer looks with "stream": true (documented beside the JSON body).
NDJSON_RESPONSE = {
    "description": 'The answer; with "stream": true an application/x-ndjson stream of '
                   '{"token": ...} lines, then {"done": true, ...the JSON body...}, or a final '
                   '{"error": {...problem...}} line if generation fails mid-stream',
    "content": {"application/x-ndjson": {"schema": {
        "type": "string",
        "description": "newline-delimited JSON objects: {token} ..., then {done, ...}",
    }}},
}


def well_formed(value: Any) -> Any:
    """Text with each lone surrogate replaced by U+FFFD; anything else unchanged."""
    # JSON can carry a lone surrogate ("\ud800"): not text, and no tokenizer can encode it.
    # Replace each with U+FFFD, as a lenient decoder would, rather than reject the request.
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


# "Not whitespace" spelled out: ``\S`` means different things in Python (where U+001C-U+001F
# and U+0085 are whitespace) and in the ECMA-262 regexes of JSON Schema, so a fuzzer could
# send a schema-valid "\x1f" that the server then refused.
NOT_WHITESPACE = (r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
                  r"\u3000\ufeff]")


def has_text(value: str) -> str:
    """``value`` if it has a non-whitespace character (the same test as the schema's pattern)."""
    if not re.search(NOT_WHITESPACE, value):
        raise ValueError("prompt must contain non-whitespace text")
    return value


# A prompt: at least one non-whitespace character (the OpenAPI document says so with a
# pattern, so clients and fuzzers know it), lone surrogates replaced by U+FFFD.
PromptText = Annotated[str, BeforeValidator(well_formed), AfterValidator(has_text),
                       Field(json_schema_extra={"pattern": NOT_WHITESPACE})]


class GenerationOptions(BaseModel):
    """Sampling parameters shared by every generation request."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: MaxTokens | None = Field(
        None, description=f"Most tokens to generate (default: the LLM_DEFAULT_MAX_TOKENS "
                          f"setting, {DEFAULT_MAX_TOKENS} unless configured)")
    temperature: float = Field(0.7, ge=0.0, le=TEMPERATURE_LIMIT, allow_inf_nan=False,
                               description="Sampling temperature; 0 is greedy (deterministic)")
    seed: Seed | None = Field(
        None, description="Random seed; the same seed and prompt give the same answer")

    def params(self) -> GenerationParams:
        """The validated values as the service's GenerationParams."""
        return GenerationParams(self.max_tokens, self.temperature, self.seed)


class GenerateRequest(GenerationOptions):
    """A prompt to complete."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"prompt": "Explain overfitting in one sentence.", "max_tokens": 64}]})

    prompt: PromptText = Field(min_length=1, max_length=MAX_PROMPT_CHARS,
                        description=f"The user's text, 1 to {MAX_PROMPT_CHARS} characters")
    stream: bool = Field(False, description="Stream NDJSON lines ({token} ..., then {done})")



class SecureGenerateRequest(GenerateRequest):
    """A prompt screened for injection before it reaches the model."""

    prompt: PromptText = Field(min_length=1, max_length=MAX_SECURE_INPUT_CHARS,
                        description=f"Up to {MAX_SECURE_INPUT_CHARS} characters; sanitization "
                                    f"cuts it to {MAX_PROMPT_CHARS}")


class GenerateResponse(BaseModel):
    """A generated answer and what it cost."""

    model_config = ConfigDict(openapi_extra=NDJSON_RESPONSE)  # type: ignore[typeddict-unknown-key]

    response: str
    backend: str = Field(description="llamacpp or ollama")
    model: str
    prompt_tokens: int = Field(description="Counted by the backend")
    completion_tokens: int
    total_tokens: int
    latency_ms: float
    finish_reason: str = Field(description="stop (the model ended) or length (max_tokens)")


class TriggerWindow(BaseModel):
    """The part of the prompt the screen found riskiest."""

    start: int = Field(description="Offset of the window's first character in the prompt")
    end: int = Field(description="Offset just after its last character")
    excerpt: str = Field(description="The window's text (at most 400 characters)")
    families: list[str] = Field(description="Pattern families that match inside the window")
    window_chars: int = Field(description="Size of the cut the window belongs to: the screen "
                                          "scores every prompt in windows of at most 400 "
                                          "and of at most 160 characters")


class SecurityAnalysis(BaseModel):
    """What the injection screen found in a prompt."""

    injection_detected: bool
    detected_patterns: list[str] = Field(description="Families of the patterns that matched")
    sanitized: bool = Field(description="True when sanitization changed the text")
    original_length: int
    sanitized_length: int
    blocked: bool = Field(description="True when the prompt was refused (never sent)")
    risk_score: float = Field(ge=0, le=1)
    window: TriggerWindow | None = Field(
        None, description="The riskiest window of the prompt (the screen scores each part)")


class SecureGenerateResponse(GenerateResponse):
    """A generated answer with the analysis of its prompt."""

    model_config = ConfigDict(openapi_extra=NDJSON_RESPONSE)  # type: ignore[typeddict-unknown-key]

    security_analysis: SecurityAnalysis


class V2GenerateRequest(GenerationOptions):
    """A prompt to complete (API v2)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"prompt": "Name three primary colours.", "max_tokens": 32}]})

    prompt: PromptText = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model_version: str | None = Field(None, max_length=200,
                                      description="Model asked for: the one in use, or the "
                                                  "configured Ollama model (the embedded model "
                                                  "answers for it and metadata says so); any "
                                                  "other name is 404")



class TokenCount(BaseModel):
    """Tokens of one generation, as counted by the backend."""

    prompt: int
    completion: int
    total: int


class V2Metadata(BaseModel):
    """Metadata of a v2 generation."""

    api_version: str
    model_used: str = Field(description="The model that actually answered")
    model_requested: str | None = Field(description="model_version of the request, if any")
    model_substituted: bool = Field(
        description="True when model_used is not the model_version asked for")
    backend: str
    response_time_ms: float
    token_count: int = Field(description="Total tokens (prompt + completion), as documented")
    tokens: TokenCount = Field(description="The same count split into prompt and completion")
    timestamp: str = Field(description="UTC, ISO 8601")


class V2GenerateResponse(BaseModel):
    """A generated answer with its v2 metadata."""

    response: str
    metadata: V2Metadata


def generation_dict(result: Generation) -> dict[str, Any]:
    """The v1 response body of a Generation (also the final NDJSON record)."""
    return {
        "response": result.text,
        "backend": result.backend,
        "model": result.model,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.total_tokens,
        "latency_ms": round(result.latency_ms, 2),
        "finish_reason": result.finish_reason,
    }
