"""``GenerationService``: picks the backend (auto, ollama, llamacpp) once and runs it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ai_backends.core import metrics
from ai_backends.core.errors import InvalidInput, Unavailable
from ai_backends.core.health import ProbeResult
from ai_backends.llm import Generation, GenerationParams
from ai_backends.llm.backends import (
    LLAMACPP,
    OLLAMA,
    ChatBackend,
    HostBackend,
    LlamaCppBackend,
    OllamaBackend,
    collect,
)
from ai_backends.llm.canary import canary_for, mark, watch

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

MODES = ("auto", OLLAMA, LLAMACPP)
# Bounds of GenerationParams, shared with the request schemas.
MAX_TOKENS_LIMIT = 1024
TEMPERATURE_LIMIT = 2.0
SEED_LIMIT = 2**31 - 1
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 200
# How long "auto" waits for Ollama's /api/tags before settling on the embedded model.
AUTO_PROBE_SECONDS = 1.0


def check_params(params: GenerationParams) -> None:
    """Raise InvalidInput when a parameter is outside its documented bounds."""
    errors = []
    if params.max_tokens is not None and not 1 <= params.max_tokens <= MAX_TOKENS_LIMIT:
        errors.append(("max_tokens", f"must be between 1 and {MAX_TOKENS_LIMIT}"))
    if not 0.0 <= params.temperature <= TEMPERATURE_LIMIT:
        errors.append(("temperature", f"must be between 0 and {TEMPERATURE_LIMIT:g}"))
    if params.seed is not None and not 0 <= params.seed <= SEED_LIMIT:
        errors.append(("seed", f"must be between 0 and {SEED_LIMIT}"))
    if not 0.0 < params.top_p <= 1.0:
        errors.append(("top_p", "must be above 0 and at most 1"))
    if len(params.stop) > MAX_STOP_SEQUENCES or not all(
            0 < len(stop) <= MAX_STOP_CHARS for stop in params.stop):
        errors.append(("stop", f"at most {MAX_STOP_SEQUENCES} non-empty texts of at most "
                               f"{MAX_STOP_CHARS} characters"))
    if errors:
        raise InvalidInput("invalid generation parameters: " + ", ".join(f for f, _ in errors),
                           errors=[{"field": f, "message": m, "type": "out_of_range"}
                                   for f, m in errors])


class GenerationService:
    """The app's LLM: resolves its backend on first use and keeps it for the process.

    ``auto`` takes Ollama when ``OLLAMA_BASE_URL`` is set and its /api/tags lists the model,
    otherwise the embedded llama.cpp model. The choice is made once, so one process never
    mixes two models' answers; restart to switch.
    """

    def __init__(self, mode: str = "auto", ollama_url: str | None = None,
                 ollama_model: str = "tinyllama", model_path: str = "", threads: int = 0,
                 context_tokens: int = 4096, timeout: float = 60.0,
                 default_max_tokens: int = 128, slots: int = 0, canary: bool = True,
                 canary_secret: str = "", model_host_url: str = "") -> None:
        if mode not in MODES:
            raise ValueError(f"LLM_BACKEND must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == OLLAMA and not ollama_url:
            raise ValueError("LLM_BACKEND=ollama needs OLLAMA_BASE_URL")
        self.mode = mode
        self.timeout = timeout
        self.ollama_model = ollama_model
        self.default_max_tokens = default_max_tokens
        self.canary = canary
        self.canary_secret = canary_secret
        self._ollama = OllamaBackend(ollama_url, ollama_model, timeout) if ollama_url else None
        embedded = LlamaCppBackend(model_path, threads, context_tokens, timeout)
        # With a model host, the embedded model runs there (one copy for every worker).
        self._llamacpp: LlamaCppBackend | HostBackend = (
            HostBackend(model_host_url, embedded.model, timeout) if model_host_url else embedded)
        self._chosen: ChatBackend | None = None
        self._reason = ""
        self._lock = threading.Lock()
        # Generations admitted at once in this process (0: unbounded). A generation holds
        # its request thread until its last token; bounding them keeps a thread free for
        # everything else (classification, health, cached answers).
        self.slots = slots
        self._slots = threading.BoundedSemaphore(slots) if slots > 0 else None

    def _resolve(self) -> ChatBackend:
        """The backend in use; decided on the first call."""
        with self._lock:
            if self._chosen is None:
                if self.mode == LLAMACPP or self._ollama is None:
                    self._chosen, self._reason = self._llamacpp, f"LLM_BACKEND={self.mode}"
                elif self.mode == OLLAMA:
                    self._chosen, self._reason = self._ollama, "LLM_BACKEND=ollama"
                else:
                    ok, why = self._ollama.has_model(AUTO_PROBE_SECONDS)
                    self._chosen = self._ollama if ok else self._llamacpp
                    self._reason = "auto: Ollama answered" if ok else f"auto: {why}"
            return self._chosen

    @property
    def backend(self) -> str:
        """Name of the backend in use: "llamacpp" or "ollama"."""
        return self._resolve().name

    @property
    def model(self) -> str:
        """Name of the model in use."""
        return self._resolve().model

    def serves(self, requested: str) -> bool:
        """True when a request naming model ``requested`` may be answered by this service.

        That is the model in use, or the configured Ollama model (``OLLAMA_MODEL``, the
        specification's ``tinyllama``) when the embedded model stands in for it; the
        answer then names the model that actually ran.
        """
        return requested in {self.model, self.ollama_model}

    def generate(self, messages: list[BaseMessage], params: GenerationParams) -> Generation:
        """Generate a whole answer (the stream, collected)."""
        return collect(self.stream(messages, params))

    def stream(
        self, messages: list[BaseMessage], params: GenerationParams
    ) -> Iterator[str | Generation]:
        """Yield text pieces as they are generated, then one final Generation.

        With ``canary`` on, a system prompt gets a fresh canary token in front and an answer
        that repeats it raises PromptLeak instead of reaching the caller (see canary.py).
        """
        check_params(params)
        if not messages:
            raise InvalidInput("no messages to answer")
        if params.max_tokens is None:
            params = replace(params, max_tokens=self.default_max_tokens)
        backend = self._resolve()
        token = None
        if self.canary and messages[0].type == "system":
            context = "\x00".join(str(m.content) for m in messages)
            token = canary_for(params.seed, params.temperature, context, self.canary_secret)
            system = messages[0].model_copy(
                update={"content": mark(str(messages[0].content), token)})
            messages = [system, *messages[1:]]
        try:
            pieces = backend.stream(messages, params, self.timeout)
        except Exception:
            metrics.LLM_REQUESTS.labels(backend.name, "error").inc()
            raise
        measured = _measured(pieces, backend.name)
        watched = measured if token is None else watch(measured, token, backend.name)
        return self._admitted(watched)

    def _admitted(self, pieces: Iterator[str | Generation]) -> Iterator[str | Generation]:
        """Run ``pieces`` in a generation slot, from its first piece until it ends or closes."""
        if self._slots is None:
            yield from pieces
            return
        if not self._slots.acquire(blocking=False):
            raise Unavailable(f"all {self.slots} generation slots of this worker are busy; "
                              "classification keeps its own thread", retry_after=2)
        try:
            yield from pieces
        finally:
            self._slots.release()

    def probe(self, timeout: float) -> ProbeResult:
        """Health of the backend in use, without loading the embedded model."""
        if self._chosen is None and self.mode == "auto" and self._ollama is not None:
            # Not decided yet: report what the first request would pick, but leave the
            # decision to it (and its longer AUTO_PROBE_SECONDS budget).
            ok, detail = self._ollama.has_model(timeout)
            fallback_ok, fallback = self._llamacpp.available()
            if ok:
                return ProbeResult(True, "external (Ollama)", f"{detail} (auto, not used yet)")
            kind = ("embedded (llama.cpp, model host)" if isinstance(self._llamacpp, HostBackend)
                    else "embedded (llama.cpp)")
            return ProbeResult(fallback_ok, kind,
                               f"{fallback} (auto, not used yet; {detail})")
        chosen = self._resolve()
        if isinstance(chosen, HostBackend):
            ok, detail = chosen.has_model(timeout)
            return ProbeResult(ok, "embedded (llama.cpp, model host)", f"{detail} ({self._reason})")
        if isinstance(chosen, OllamaBackend):
            ok, detail = chosen.has_model(timeout)
            return ProbeResult(ok, "external (Ollama)", f"{detail} ({self._reason})")
        ok, detail = self._llamacpp.available()
        return ProbeResult(ok, "embedded (llama.cpp)", f"{detail} ({self._reason})")


def _measured(pieces: Iterator[str | Generation], backend: str) -> Iterator[str | Generation]:
    """Pass a stream through, counting its outcome, tokens and latency in the metrics."""
    try:
        for piece in pieces:
            if isinstance(piece, Generation):
                metrics.LLM_REQUESTS.labels(piece.backend, "ok").inc()
                metrics.LLM_TOKENS.labels(piece.backend, "prompt").inc(piece.prompt_tokens)
                metrics.LLM_TOKENS.labels(piece.backend, "completion").inc(
                    piece.completion_tokens)
                metrics.LLM_LATENCY.labels(piece.backend).observe(piece.latency_ms / 1000)
            yield piece
    except Exception:
        metrics.LLM_REQUESTS.labels(backend, "error").inc()
        raise


def single_turn(system: str, prompt: str) -> list[BaseMessage]:
    """A system message and one user message, as separate roles."""
    from langchain_core.messages import HumanMessage, SystemMessage

    return [SystemMessage(content=system), HumanMessage(content=prompt)]


def service_from_config(config: Mapping[str, Any]) -> GenerationService:
    """A GenerationService built from the LLM_* and OLLAMA_* settings."""
    return GenerationService(
        mode=config["LLM_BACKEND"], ollama_url=config["OLLAMA_BASE_URL"],
        ollama_model=config["OLLAMA_MODEL"], model_path=config["LLM_MODEL_PATH"],
        threads=config["LLM_THREADS"], context_tokens=config["LLM_CONTEXT_TOKENS"],
        timeout=config["LLM_TIMEOUT_SECONDS"],
        default_max_tokens=config["LLM_DEFAULT_MAX_TOKENS"], slots=generation_slots(config),
        canary=config["LLM_CANARY"], canary_secret=config["LLM_CANARY_SECRET"],
        model_host_url=config["MODEL_HOST_URL"])


def generation_slots(config: Mapping[str, Any]) -> int:
    """Generations one worker admits at once: LLM_CONCURRENCY, or one less than its threads."""
    configured = int(config["LLM_CONCURRENCY"])
    return configured if configured > 0 else max(1, int(config["WEB_THREADS"]) - 1)
