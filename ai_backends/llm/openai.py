"""The OpenAI-compatible surface as a service: OpenAI requests in, OpenAI bodies out.

``OpenAICompat`` translates what ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings`` and ``/v1/models`` receive (already validated by their schemas) into calls
on the same services as the rest of the API: the LLM backend (``GenerationService``), the
injection screen (``injection.analyze``), the semantic cache (``SemanticChatService``) and
the embedding model (``Embedder``). It never touches Flask; the edge
(``ai_backends/api/openai``) parses, calls and formats.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ai_backends.cache.embeddings import MAX_INPUT_TOKENS, MODEL_NAME, Embedder
from ai_backends.core.errors import BadRequest, InvalidInput, NotFound, Unavailable
from ai_backends.core.tenancy import DEFAULT_TENANT
from ai_backends.llm import Generation, GenerationParams
from ai_backends.llm.injection import analyze
from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from ai_backends.chat.cached import SemanticChatService
    from ai_backends.llm.screen import InjectionScreen
    from ai_backends.llm.service import GenerationService

EMBEDDING_MODEL = MODEL_NAME.rsplit("/", 1)[-1]  # "all-MiniLM-L6-v2"
EMBEDDING_BACKEND = "fastembed"
# Largest text of one message (characters); the model's context is the real limit.
MAX_MESSAGE_CHARS = 32_000
MAX_EMBEDDING_INPUTS = 256


@dataclass
class ChatOutcome:
    """One answer to an OpenAI request, with what the screen and the cache decided."""

    text: str
    model: str
    backend: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    security_analysis: dict[str, Any] | None = None
    cache_info: dict[str, Any] | None = None

    @classmethod
    def of(cls, generation: Generation, **extensions: Any) -> ChatOutcome:
        """An outcome from a backend's Generation."""
        return cls(generation.text, generation.model, generation.backend,
                   generation.prompt_tokens, generation.completion_tokens,
                   generation.finish_reason, **extensions)

    def usage(self) -> dict[str, int]:
        """OpenAI's ``usage`` member, from the backend's own counts."""
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    def extensions(self) -> dict[str, Any]:
        """The members this server adds to OpenAI's bodies (only those that apply)."""
        extra: dict[str, Any] = {}
        if self.security_analysis is not None:
            extra["security_analysis"] = self.security_analysis
        if self.cache_info is not None:
            extra["cache_info"] = self.cache_info
        return extra


@dataclass
class ChatStream:
    """A streamed answer: what is known before the first token, then the pieces."""

    model: str
    backend: str
    pieces: Iterator[str | ChatOutcome]
    extensions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: its role (system, user, assistant) and text."""

    role: str
    content: str


def completion_id(kind: str) -> str:
    """A fresh OpenAI-style id, e.g. ``chatcmpl-3f9c...``."""
    return f"{kind}-{uuid.uuid4().hex[:24]}"


class OpenAICompat:
    """The services behind the OpenAI-compatible routes."""

    def __init__(self, llm: GenerationService, embedder: Embedder,
                 cached_chat: SemanticChatService | None, screen_by_default: bool,
                 cache_by_default: bool, injection: InjectionScreen | None = None) -> None:
        self.llm = llm
        self.embedder = embedder
        self.injection = injection  # the service's screen (None: the process-wide one)
        self.cached_chat = cached_chat
        self.screen_by_default = screen_by_default
        self.cache_by_default = cache_by_default
        self.created = int(time.time())

    # --- models -------------------------------------------------------------------------
    def models(self, timeout: float = 1.0) -> list[dict[str, Any]]:
        """The models that can answer here now, each with the backend that runs it."""
        listed = []
        llm = self.llm.probe(timeout)
        if llm.up:
            listed.append(self._model_card(self.llm.model, self.llm.backend))
        if self.embedder.probe(timeout).up:
            listed.append(self._model_card(EMBEDDING_MODEL, EMBEDDING_BACKEND))
        return listed

    def model(self, model_id: str) -> dict[str, Any]:
        """One listed model; NotFound when it is not served here."""
        for card in self.models():
            if _same_model(model_id, card["id"]):
                return card
        raise NotFound(f"the model {model_id!r} does not exist here; GET /v1/models lists "
                       "the models served", param="model", code="model_not_found")

    def _model_card(self, model_id: str, backend: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": self.created,
                "owned_by": backend, "backend": backend}

    def check_chat_model(self, requested: str) -> None:
        """NotFound unless ``requested`` names the chat model being served."""
        served = self.llm.model
        if not _same_model(requested, served):
            raise NotFound(f"the model {requested!r} is not served here; this server answers "
                           f"with {served!r} ({self.llm.backend})", param="model",
                           code="model_not_found")

    # --- chat ---------------------------------------------------------------------------
    def chat(self, model: str, turns: list[Turn], params: GenerationParams,
             screen: bool | None = None, cache: bool | None = None,
             tenant: str = DEFAULT_TENANT) -> ChatOutcome:
        """Answer a conversation: screened and cached (the tenant's cache) when asked."""
        self.check_chat_model(model)
        turns, report = self._screen(turns, screen)
        extensions: dict[str, Any] = {"security_analysis": report}
        if self._use_cache(cache):
            cached = self._from_cache(tenant, turns, params)
            if isinstance(cached, ChatOutcome):
                cached.security_analysis = report
                return cached
            extensions["cache_info"] = cached
        return ChatOutcome.of(self.llm.generate(to_messages(turns), params), **extensions)

    def chat_stream(self, model: str, turns: list[Turn], params: GenerationParams,
                    screen: bool | None = None, cache: bool | None = None,
                    tenant: str = DEFAULT_TENANT) -> ChatStream:
        """Like ``chat``, but the answer's text arrives in pieces as it is generated.

        A cached answer arrives as one piece (it is already complete).
        """
        self.check_chat_model(model)
        turns, report = self._screen(turns, screen)
        extensions: dict[str, Any] = {}
        if report is not None:
            extensions["security_analysis"] = report
        if self._use_cache(cache):
            cached = self._from_cache(tenant, turns, params)
            if isinstance(cached, ChatOutcome):
                cached.security_analysis = report
                return ChatStream(cached.model, cached.backend, iter([cached.text, cached]),
                                  cached.extensions())
            extensions["cache_info"] = cached
        pieces = self.llm.stream(to_messages(turns), params)
        return ChatStream(self.llm.model, self.llm.backend, _outcomes(pieces, extensions),
                          extensions)

    def _use_cache(self, cache: bool | None) -> bool:
        return self.cache_by_default if cache is None else cache

    def _screen(self, turns: list[Turn], screen: bool | None
                ) -> tuple[list[Turn], dict[str, Any] | None]:
        """Screen every user message; raise BadRequest with the reasons when one is blocked."""
        if not (self.screen_by_default if screen is None else screen):
            return turns, None
        screened, analyses = [], []
        for turn in turns:
            if turn.role != "user":
                screened.append(turn)
                continue
            analysis = analyze(turn.content, MAX_MESSAGE_CHARS, screen=self.injection)
            analyses.append(analysis)
            screened.append(replace(turn, content=analysis.sanitized_text))
        if not analyses:
            return turns, None
        worst = max(analyses, key=lambda a: a.risk_score)
        patterns = sorted({p for a in analyses for p in a.detected_patterns})
        report = {**worst.to_dict(), "detected_patterns": patterns,
                  "sanitized": any(a.sanitized for a in analyses),
                  "blocked": any(a.blocked for a in analyses),
                  "injection_detected": any(a.injection_detected for a in analyses),
                  "messages_screened": len(analyses)}
        if report["blocked"]:
            raise BadRequest("prompt blocked by the injection screen: it looks like a prompt "
                             f"injection ({', '.join(patterns) or 'classifier'}; risk "
                             f"{worst.risk_score:.2f})", security_analysis=report,
                             param="messages", code="prompt_blocked")
        return screened, report

    def _from_cache(self, tenant: str, turns: list[Turn], params: GenerationParams
                    ) -> ChatOutcome | dict[str, Any]:
        """The cached chat service's answer, or a ``cache_info`` saying why it was not used."""
        if len(turns) != 1 or turns[0].role != "user":
            return {"cache_hit": False, "used": False,
                    "reason": "the semantic cache answers single questions (one user "
                              "message, no system or earlier turns)"}
        if self.cached_chat is None:
            return {"cache_hit": False, "used": False,
                    "reason": "the semantic cache needs Redis, and there is none"}
        text, model, info = self.cached_chat.answer(tenant, turns[0].content, params)
        return ChatOutcome(text, model, self.llm.backend, 0, 0, "stop",
                           cache_info={"used": True, **asdict(info)})

    # --- completions --------------------------------------------------------------------
    def complete(self, model: str, prompt: str, params: GenerationParams,
                 screen: bool | None = None) -> ChatOutcome:
        """Complete a prompt as /api/v1/generate does: its system prompt, then the prompt."""
        return self.chat(model, _completion_turns(prompt), params, screen, cache=False)

    def complete_stream(self, model: str, prompt: str, params: GenerationParams,
                        screen: bool | None = None) -> ChatStream:
        """Stream the completion of a prompt."""
        return self.chat_stream(model, _completion_turns(prompt), params, screen, cache=False)

    # --- embeddings ---------------------------------------------------------------------
    def embeddings(self, model: str, texts: list[str], encoding_format: str,
                   dimensions: int | None = None) -> dict[str, Any]:
        """OpenAI's embeddings list: one unit vector per text, as floats or base64."""
        if not _same_model(model, EMBEDDING_MODEL) and model != MODEL_NAME:
            raise NotFound(f"the embedding model {model!r} is not served here; use "
                           f"{EMBEDDING_MODEL!r}", param="model", code="model_not_found")
        if dimensions is not None and dimensions != self.embedder.dimensions:
            raise InvalidInput(f"{EMBEDDING_MODEL} has {self.embedder.dimensions} dimensions "
                               "and cannot shorten its vectors",
                               errors=[{"field": "dimensions", "type": "unsupported",
                                        "message": f"only {self.embedder.dimensions}"}])
        counts = self.embedder.count_tokens(texts)
        too_long = [i for i, n in enumerate(counts) if n > MAX_INPUT_TOKENS]
        if too_long:
            raise InvalidInput(
                f"input {too_long[0]} is {counts[too_long[0]]} tokens; {EMBEDDING_MODEL} reads "
                f"at most {MAX_INPUT_TOKENS}",
                errors=[{"field": f"input.{too_long[0]}", "type": "too_long",
                         "message": "too long for the model context"}])
        try:
            vectors = self.embedder.embed(texts)
        except Unavailable:
            raise
        except Exception as exc:  # the model files are broken or missing
            raise Unavailable(f"embedding model failed: {type(exc).__name__}") from exc
        data = [{"object": "embedding", "index": i,
                 "embedding": _encode(vector, encoding_format)}
                for i, vector in enumerate(vectors)]
        total = sum(counts)
        return {"object": "list", "data": data, "model": EMBEDDING_MODEL,
                "usage": {"prompt_tokens": total, "total_tokens": total}}


def _completion_turns(prompt: str) -> list[Turn]:
    """A completion's conversation: the generate endpoint's system prompt and the prompt."""
    return [Turn("system", GENERATE_SYSTEM_PROMPT), Turn("user", prompt)]


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # little-endian float32, as OpenAI sends it
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


def _same_model(requested: str, served: str) -> bool:
    """Names match, ignoring Ollama's default ``:latest`` tag."""
    return requested.removesuffix(":latest") == served.removesuffix(":latest")


def _outcomes(pieces: Iterator[str | Generation], extensions: dict[str, Any]
              ) -> Iterator[str | ChatOutcome]:
    """Pass text through; turn the final Generation into a ChatOutcome with the extensions."""
    try:
        for piece in pieces:
            yield ChatOutcome.of(piece, **extensions) if isinstance(piece, Generation) else piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # a client that went away stops the generation


def to_messages(turns: list[Turn]) -> list[BaseMessage]:
    """LangChain messages of the conversation, one per turn, roles kept apart."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[turn.role](content=turn.content) for turn in turns]


def chat_completion(outcome: ChatOutcome, response_id: str, created: int) -> dict[str, Any]:
    """The ``chat.completion`` body of an answer."""
    return {"id": response_id, "object": "chat.completion", "created": created,
            "model": outcome.model, "system_fingerprint": _fingerprint(outcome.backend,
                                                                       outcome.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.text},
                         "logprobs": None, "finish_reason": outcome.finish_reason}],
            "usage": outcome.usage(), **outcome.extensions()}


def text_completion(outcome: ChatOutcome, response_id: str, created: int) -> dict[str, Any]:
    """The ``text_completion`` body of an answer."""
    return {"id": response_id, "object": "text_completion", "created": created,
            "model": outcome.model, "system_fingerprint": _fingerprint(outcome.backend,
                                                                       outcome.model),
            "choices": [{"index": 0, "text": outcome.text, "logprobs": None,
                         "finish_reason": outcome.finish_reason}],
            "usage": outcome.usage(), **outcome.extensions()}


class ChunkWriter:
    """Builds the streamed chunks of one answer (``chat.completion.chunk`` or text)."""

    def __init__(self, stream: ChatStream, response_id: str, created: int, chat: bool,
                 include_usage: bool) -> None:
        self.stream = stream
        self.chat = chat
        self.include_usage = include_usage
        self.base = {"id": response_id,
                     "object": "chat.completion.chunk" if chat else "text_completion",
                     "created": created, "model": stream.model,
                     "system_fingerprint": _fingerprint(stream.backend, stream.model)}

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Every chunk: role first (chat), then text pieces, the finish, the usage."""
        usage = {"usage": None} if self.include_usage else {}
        if self.chat:
            yield {**self.base, **self.stream.extensions, "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""},
                 "logprobs": None, "finish_reason": None}], **usage}
        for piece in self.stream.pieces:
            if isinstance(piece, ChatOutcome):
                yield {**self.base, **piece.extensions(),
                       "choices": [self._choice("", piece.finish_reason)], **usage}
                if self.include_usage:
                    yield {**self.base, "choices": [], "usage": piece.usage()}
                return
            yield {**self.base, "choices": [self._choice(piece, None)], **usage}

    def _choice(self, text: str, finish: str | None) -> dict[str, Any]:
        if self.chat:
            return {"index": 0, "delta": {"content": text} if text else {},
                    "logprobs": None, "finish_reason": finish}
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}


def _fingerprint(backend: str, model: str) -> str:
    return f"{backend}:{model}"
