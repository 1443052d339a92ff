"""Text generation with a local LLM: the types every caller (generate, chat) builds on.

``LLMService`` hides which backend answers (Ollama over HTTP or llama.cpp in-process);
callers pass LangChain messages (SystemMessage/HumanMessage/AIMessage) and bounded
``GenerationParams`` and get a ``Generation`` whose token counts come from the backend.
Both methods raise ``ai_backends.core.errors.Unavailable`` when the backend is down or too slow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # langchain-core is only needed by whoever builds messages
    from langchain_core.messages import BaseMessage


@dataclass(frozen=True)
class GenerationParams:
    """How to generate: already validated and bounded by the request schemas."""

    max_tokens: int | None = None  # None: the service's LLM_DEFAULT_MAX_TOKENS
    temperature: float = 0.7
    seed: int | None = None  # deterministic when set; temperature 0 gives greedy decoding
    top_p: float = 0.95  # nucleus sampling: keep the smallest set of tokens with this mass
    stop: tuple[str, ...] = ()  # generation ends before the first of these texts


@dataclass(frozen=True)
class Generation:
    """One finished answer and what it cost, as reported by the backend that produced it."""

    text: str
    backend: str  # "llamacpp" or "ollama"
    model: str  # e.g. "SmolLM2-135M-Instruct" or "tinyllama"
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: str = "stop"  # "stop" (model ended) or "length" (max_tokens reached)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class LLMService(Protocol):
    """The generation service of the app (``ai_backends.extensions.llm()``)."""

    @property
    def backend(self) -> str:
        """Name of the backend that answers: "llamacpp" or "ollama"."""
        ...

    @property
    def model(self) -> str:
        """Name of the model that answers."""
        ...

    def generate(self, messages: list[BaseMessage], params: GenerationParams) -> Generation:
        """Generate one answer to ``messages``."""
        ...

    def stream(
        self, messages: list[BaseMessage], params: GenerationParams
    ) -> Iterator[str | Generation]:
        """Yield text chunks as they are produced, then exactly one final ``Generation``."""
        ...


__all__ = ["Generation", "GenerationParams", "LLMService"]
