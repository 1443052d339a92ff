"""Requests and responses of the OpenAI-compatible routes (a subset of OpenAI's API).

What a model here cannot honour is refused with a 400 naming the parameter, never ignored:
several choices (``n > 1``), tools and functions, log probabilities, logit bias, penalties,
JSON response formats. Unknown members are refused too. Two extension members choose this
server's screens per request: ``screen_injection`` and ``semantic_cache``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from ai_backends.llm import GenerationParams
from ai_backends.llm.openai import MAX_EMBEDDING_INPUTS, MAX_MESSAGE_CHARS, Turn
from ai_backends.llm.schemas import NOT_WHITESPACE, MaxTokens, Seed, has_text, well_formed
from ai_backends.llm.service import MAX_STOP_SEQUENCES, TEMPERATURE_LIMIT

DEFAULT_MAX_TOKENS = 256
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.95
SSE_RESPONSE = {
    "description": 'The answer; with "stream": true a text/event-stream of "data: {chunk}" '
                   'events ending with "data: [DONE]"',
    "content": {"text/event-stream": {"schema": {
        "type": "string", "description": "server-sent events: data: {chunk} ... data: [DONE]"}}},
}


# Text of a message: lone surrogates (valid JSON, not text) become U+FFFD.
MessageText = Annotated[str, BeforeValidator(well_formed), Field(max_length=MAX_MESSAGE_CHARS)]
# A prompt or an embedding input: some text that is not only whitespace.
InputText = Annotated[str, BeforeValidator(well_formed), AfterValidator(has_text),
                      Field(min_length=1, max_length=MAX_MESSAGE_CHARS,
                            json_schema_extra={"pattern": NOT_WHITESPACE})]
StopText = Annotated[str, Field(min_length=1, max_length=200)]
# Refused parameters: the schema documents what is accepted, the validators below refuse
# the rest with a message that says why (a bare type error would not).
EmptyList = Annotated[list[Any], WithJsonSchema({"type": "array", "maxItems": 0})]
Nothing = Annotated[Any, WithJsonSchema({"type": "null"})]
OnePrompt = Annotated[list[str], WithJsonSchema({
    "type": "array", "minItems": 1, "maxItems": 1,
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS,
              "pattern": NOT_WHITESPACE}})]


def _only(*values: Any) -> dict[str, Any]:
    """JSON Schema of a refused parameter: the values that are accepted (documents the refusal)."""
    return {"enum": list(values)}


def _refuse(name: str, why: str) -> ValueError:
    return ValueError(f"{name} is not supported by this server: {why}")


class TextPart(BaseModel):
    """One text part of a message's content (images and audio are refused)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: MessageText


class OpenAIMessage(BaseModel):
    """One message of the conversation; ``developer`` is read as ``system``."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"] = Field(
        description="Tool messages are refused (no tool calling here)")
    content: MessageText | list[TextPart] = Field(description="Text, or a list of text parts")
    name: Nothing = Field(None, description="Refused: the models here have no participant names")

    @field_validator("name")
    @classmethod
    def _no_name(cls, value: Any) -> Any:
        if value is not None:
            raise _refuse("name", "the chat template has no participant names")
        return value

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: str | list[TextPart]) -> str | list[TextPart]:
        text = value if isinstance(value, str) else "".join(part.text for part in value)
        if len(text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message holds at most {MAX_MESSAGE_CHARS} characters")
        return value

    def turn(self) -> Turn:
        """The message as a (role, text) turn."""
        text = self.content if isinstance(self.content, str) else "".join(
            part.text for part in self.content)
        return Turn("system" if self.role == "developer" else self.role, text)


class StreamOptions(BaseModel):
    """Options of a streamed answer."""

    model_config = ConfigDict(extra="forbid")

    include_usage: bool = Field(False, description="Send a last chunk with the token usage")


class ResponseFormat(BaseModel):
    """Only plain text: the models here cannot guarantee JSON."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text"] = Field(description="json_object and json_schema are refused")


class SamplingFields(BaseModel):
    """Sampling parameters and refusals shared by chat and text completions."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200, description="A chat model of GET /v1/models")
    max_tokens: MaxTokens | None = Field(None, description=f"Default {DEFAULT_MAX_TOKENS}")
    temperature: float | None = Field(None, ge=0.0, le=TEMPERATURE_LIMIT, allow_inf_nan=False,
                                      description=f"Default {DEFAULT_TEMPERATURE}; 0 is greedy")
    top_p: float | None = Field(None, gt=0.0, le=1.0, allow_inf_nan=False,
                                description=f"Nucleus sampling; default {DEFAULT_TOP_P}")
    stop: StopText | Annotated[list[StopText], Field(max_length=MAX_STOP_SEQUENCES)] | None = Field(
        None, description=f"Up to {MAX_STOP_SEQUENCES} texts that end the answer")
    seed: Seed | None = Field(None, description="With temperature 0, the same answer each time")
    stream: bool = Field(False, description="Answer as server-sent events")
    stream_options: StreamOptions | None = Field(
        None, description="With stream: true; a non-streamed answer always carries usage")
    n: int | None = Field(None, description="Only 1", json_schema_extra=_only(1, None))
    logprobs: bool | None = Field(None, description="Refused unless false or null",
                                  json_schema_extra=_only(False, None))
    presence_penalty: float | None = Field(None, description="Only 0",
                                           json_schema_extra=_only(0, None))
    frequency_penalty: float | None = Field(None, description="Only 0",
                                            json_schema_extra=_only(0, None))
    logit_bias: dict[str, Any] | None = Field(
        None, description="Refused unless empty",
        json_schema_extra={"anyOf": [{"type": "object", "maxProperties": 0}, {"type": "null"}]})
    user: str | None = Field(None, max_length=256,
                             description="End-user id; accepted for compatibility, logged nowhere")
    screen_injection: bool | None = Field(
        None, description="Extension: screen user text for prompt injection (default: "
                          "OPENAI_SCREEN_INJECTION); a blocked request gets a 400")

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise _refuse("n > 1", "one choice per request; send several requests")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: Any) -> Any:
        if value not in (None, False, 0):
            raise _refuse("logprobs", "the backends do not report token probabilities")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None) -> float | None:
        if value not in (None, 0, 0.0):
            raise _refuse("penalties", "only 0 (no penalty)")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _no_bias(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value:
            raise _refuse("logit_bias", "token biases cannot be set on these backends")
        return value

    def limit(self) -> int:
        """The most tokens to generate."""
        return self.max_tokens or DEFAULT_MAX_TOKENS

    def params(self) -> GenerationParams:
        """The validated values as the service's GenerationParams."""
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return GenerationParams(
            max_tokens=self.limit(),
            temperature=DEFAULT_TEMPERATURE if self.temperature is None else self.temperature,
            seed=self.seed, top_p=DEFAULT_TOP_P if self.top_p is None else self.top_p,
            stop=stop)

    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(SamplingFields):
    """``POST /v1/chat/completions``: a conversation to continue."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "SmolLM2-135M-Instruct", "max_tokens": 32, "temperature": 0, "seed": 1,
        "messages": [{"role": "system", "content": "You answer in one sentence."},
                     {"role": "user", "content": "What is overfitting?"}]}]})

    messages: list[OpenAIMessage] = Field(min_length=1, max_length=500)
    max_completion_tokens: MaxTokens | None = Field(
        None, description="Same as max_tokens; wins when both are sent")
    response_format: ResponseFormat | None = Field(None, description='Only {"type": "text"}')
    tools: EmptyList | None = Field(
        None, description="Refused unless empty")
    tool_choice: str | None = Field(None, description='Refused unless "none"',
                                    json_schema_extra=_only("none", None))
    parallel_tool_calls: bool | None = Field(None, description="Accepted without tools")
    functions: EmptyList | None = Field(
        None, description="Refused unless empty")
    function_call: str | None = Field(None, description='Refused unless "none"',
                                      json_schema_extra=_only("none", None))
    top_logprobs: Nothing = Field(None, description="Refused")
    semantic_cache: bool | None = Field(
        None, description="Extension: answer a single question through the semantic cache "
                          "(default: OPENAI_SEMANTIC_CACHE); cache_info says what happened")

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise _refuse("tool calling", "the models here are not trained to call tools")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _no_top_logprobs(cls, value: Any) -> Any:
        if value is not None:
            raise _refuse("top_logprobs", "the backends do not report token probabilities")
        return value

    @field_validator("tool_choice", "function_call")
    @classmethod
    def _no_tool_choice(cls, value: Any) -> Any:
        if value not in (None, "none"):
            raise _refuse("tool_choice", 'only "none"')
        return value

    def limit(self) -> int:
        """The most tokens to generate (max_completion_tokens or max_tokens)."""
        return self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS

    def turns(self) -> list[Turn]:
        """The conversation as turns."""
        return [message.turn() for message in self.messages]


class CompletionRequest(SamplingFields):
    """``POST /v1/completions``: a prompt, answered as ``/api/v1/generate`` answers it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "SmolLM2-135M-Instruct", "prompt": "Name three primary colours.",
        "max_tokens": 24, "temperature": 0}]})

    prompt: InputText | OnePrompt = Field(
        description="One prompt (a list of exactly one is accepted)")
    echo: bool | None = Field(None, description="Refused unless false",
                              json_schema_extra=_only(False, None))
    suffix: str | None = Field(None, description="Refused (no fill-in-the-middle)",
                               json_schema_extra=_only("", None))
    best_of: int | None = Field(None, description="Only 1", json_schema_extra=_only(1, None))

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        text = value if isinstance(value, str) else (value[0] if len(value) == 1 else None)
        if text is None:
            raise _refuse("a list of several prompts", "send one prompt per request")
        if not text.strip():
            raise ValueError("prompt must contain non-whitespace text")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a prompt holds at most {MAX_MESSAGE_CHARS} characters")
        return value

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool | None) -> bool | None:
        if value:
            raise _refuse("echo", "the prompt is not repeated in the answer")
        return value

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        if value:
            raise _refuse("suffix", "the models here cannot fill in the middle")
        return value

    @field_validator("best_of")
    @classmethod
    def _no_best_of(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise _refuse("best_of > 1", "one candidate per request")
        return value

    def text(self) -> str:
        """The prompt."""
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``: one text or a batch."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "all-MiniLM-L6-v2", "input": ["What is AI?", "Define artificial intelligence"],
        "encoding_format": "float"}]})

    model: str = Field(min_length=1, max_length=200, description="all-MiniLM-L6-v2")
    input: InputText | Annotated[list[InputText], Field(min_length=1,
                                                        max_length=MAX_EMBEDDING_INPUTS)] = Field(
        description=f"A text or up to {MAX_EMBEDDING_INPUTS} texts (token arrays are refused)")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: little-endian float32 bytes")
    dimensions: int | None = Field(None, description="Only 384", json_schema_extra=_only(384, None))
    user: str | None = Field(None, max_length=256, description="Accepted, logged nowhere")

    @field_validator("input")
    @classmethod
    def _texts(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not 1 <= len(texts) <= MAX_EMBEDDING_INPUTS:
            raise ValueError(f"send 1 to {MAX_EMBEDDING_INPUTS} texts")
        if any(not text for text in texts):
            raise ValueError("an input is empty")
        return value

    def texts(self) -> list[str]:
        """The inputs as a list."""
        return [self.input] if isinstance(self.input, str) else list(self.input)


class ModelPath(BaseModel):
    """The path of ``GET /v1/models/{model}``."""

    model: str = Field(max_length=200)


# --- responses (documented; the routes build plain dicts) ---------------------------------
class Usage(BaseModel):
    """Tokens counted by the backend."""

    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class AssistantMessage(BaseModel):
    """The answer's message."""

    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    """The one choice of a chat completion."""

    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    """A ``chat.completion``; extensions ``security_analysis`` and ``cache_info`` when used."""

    model_config = ConfigDict(extra="allow",
                              openapi_extra=SSE_RESPONSE)  # type: ignore[typeddict-unknown-key]

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str = Field(description="backend:model")
    choices: list[ChatChoice]
    usage: Usage
    security_analysis: dict[str, Any] | None = Field(
        None, description="Extension: the injection screen's verdict, when it ran")
    cache_info: dict[str, Any] | None = Field(
        None, description="Extension: how the semantic cache answered, when asked")


class TextChoice(BaseModel):
    """The one choice of a text completion."""

    index: int
    text: str
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


class TextCompletion(BaseModel):
    """A ``text_completion``."""

    model_config = ConfigDict(extra="allow",
                              openapi_extra=SSE_RESPONSE)  # type: ignore[typeddict-unknown-key]

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[TextChoice]
    usage: Usage
    security_analysis: dict[str, Any] | None = None


class Embedding(BaseModel):
    """One vector: floats, or base64 of little-endian float32."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingList(BaseModel):
    """The vectors, in input order."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: Usage


class OpenAIModel(BaseModel):
    """A model that can answer here."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str = Field(description="The backend that runs it")
    backend: str = Field(description="Extension: llamacpp, ollama or fastembed")


class OpenAIModelList(BaseModel):
    """The models that can answer here now."""

    object: Literal["list"]
    data: list[OpenAIModel]


class ErrorDetail(BaseModel):
    """OpenAI's error member."""

    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """Every error of the /v1 routes, in OpenAI's shape."""

    error: ErrorDetail
