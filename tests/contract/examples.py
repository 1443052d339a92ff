"""Every request example of the specification (the seed README), as data, in its order.

Each HTTP example is the documented method, path and body, the documented response where
the specification shows one (its keys, types and nesting are the contract; values are
examples), and the value conventions the text documents. ``tests/contract/test_examples.py``
sends them one after the other, as a reader pasting them would; the script and CLI examples
are in ``SCRIPT_EXAMPLES`` and ``CLI_EXAMPLES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
DRIFT_STATUSES = {"NO_DRIFT", "LOW_DRIFT", "MEDIUM_DRIFT", "HIGH_DRIFT"}


@dataclass(frozen=True)
class Example:
    """One documented request, what the specification says it answers, and where."""

    id: str
    where: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    documented: Any = None
    conventions: dict[str, Any] = field(default_factory=dict)
    xfail: str | None = None


def is_number(value: Any) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


CLASSIFY_DOC = {"predicted_class": "setosa", "predicted_class_index": 0,
                "probabilities": [0.95, 0.03, 0.02], "confidence": 0.95,
                "all_classes": ["setosa", "versicolor", "virginica"]}
CACHED_CLASSIFY_DOC = {"predicted_class": "setosa", "predicted_class_index": 0,
                       "probabilities": [1.0, 0.0, 0.0], "confidence": 1.0}
SECURE_DOC = {"response": "Machine learning is...", "security_analysis": {
    "injection_detected": False, "detected_patterns": [], "sanitized": False,
    "original_length": 25, "sanitized_length": 25, "blocked": False}}
CHAT_DOC = {"response": "Hello! I can help you with...", "session_id": "user123-session",
            "conversation_length": 1,
            "memory_stats": {"total_messages": 2, "human_messages": 1, "ai_messages": 1}}
DETAILED_DOC = {
    "predicted_class": "setosa", "raw_probabilities": [0.95, 0.03, 0.02],
    "feature_importances": [0.1, 0.2, 0.3, 0.4],
    "model_info": {"type": "RandomForestClassifier", "n_estimators": 100},
    "serialization_demo": {"numpy_int": 42, "numpy_float": 3.14159,
                           "numpy_array": [1, 2, 3, 4, 5]},
}
SIDECAR_DOC = {"predicted_class": "setosa", "predicted_class_index": 0,
               "probabilities": [0.95, 0.03, 0.02], "confidence": 0.95, "protocol": "HTTP",
               "processing_time_ms": 23.45}
BENCHMARK_DOC = {
    "results": {
        "rest": {"predicted_class": "setosa", "protocol": "HTTP",
                 "avg_processing_time_ms": 45.67},
        "grpc": {"predicted_class": "setosa", "protocol": "gRPC",
                 "avg_processing_time_ms": 23.45},
    },
    "performance_analysis": {"http_time_ms": 45.67, "grpc_time_ms": 23.45,
                             "speedup_factor": 1.95, "faster_protocol": "gRPC",
                             "time_difference_ms": 22.22},
}
BENCHMARK_CONVENTIONS = {
    "results.rest.protocol": "HTTP", "results.grpc.protocol": "gRPC",
    "results.rest.predicted_class": "setosa", "results.grpc.predicted_class": "setosa",
    "performance_analysis.faster_protocol": lambda v: v in {"HTTP", "gRPC"},
}
SEMANTIC_DOC = {"response": "AI (Artificial Intelligence) is...", "cache_info": {
    "cache_hit": True, "cache_type": "semantic", "similarity_score": 0.92,
    "response_time_ms": 336.77}}
V2_DOC = {"response": "Generated text...", "metadata": {
    "api_version": "v2", "model_used": "tinyllama", "response_time_ms": 150.23,
    "token_count": 45, "timestamp": "2025-08-04T00:58:23.697079Z"}}
V2_CONVENTIONS = {"metadata.api_version": "v2", "metadata.token_count": lambda v: v > 0,
                  "metadata.model_used": lambda v: isinstance(v, str) and v != ""}
DRIFT_DOC = {
    "drift_analysis": {
        "drift_detected": True, "overall_drift_score": 0.6234,
        "feature_drift_scores": {"sepal_length": {
            "drift_detected": True, "drift_score": 0.8456,
            "statistical_test": "kolmogorov_smirnov"}},
        "analysis_timestamp": "2025-08-04T00:58:23.697079Z",
    },
    "data_summary": {"reference_samples": 120, "analyzed_samples": 50,
                     "total_production_samples": 150},
    "recommendations": {"retrain_model": True,
                        "investigate_features": ["sepal_length", "petal_width"],
                        "monitoring_status": "MEDIUM_DRIFT"},
}
DRIFT_CONVENTIONS = {
    "drift_analysis.feature_drift_scores.sepal_length.statistical_test": "kolmogorov_smirnov",
    "drift_analysis.feature_drift_scores.sepal_length.drift_score": lambda v: 0 <= v <= 1,
    "recommendations.monitoring_status": lambda v: v in DRIFT_STATUSES,
}
SHIFTED_DOC = {
    "original_prediction": {"predicted_class": "setosa", "confidence": 0.95},
    "shifted_prediction": {"predicted_class": "versicolor", "confidence": 0.78},
    "drift_simulation": {
        "applied_shifts": {"sepal_length": "+1.5 units", "petal_width": "*1.3 multiplier"},
        "prediction_changed": True, "confidence_change": -0.17,
    },
}
SHIFTED_CONVENTIONS = {
    "drift_simulation.applied_shifts": {"sepal_length": "+1.5 units",
                                        "petal_width": "*1.3 multiplier"},
    "original_prediction.predicted_class": "setosa",
}
REGISTRY_DOC = {
    "predicted_class": "setosa", "predicted_class_index": 0, "probabilities": [0.8, 0.1, 0.1],
    "confidence": 0.8,
    "model_registry_info": {
        "model_name": "iris-classifier-sklearn", "model_format": "sklearn",
        "model_version": "1", "model_stage": "None", "model_alias": "production",
        "model_uri": "models:/iris-classifier-sklearn@production",
        "mlflow_tracking_uri": "http://localhost:5004",
    },
}


def registry_conventions(alias: str | None) -> dict[str, Any]:
    """model_registry_info as documented: the name, the format, the alias and its URI."""
    conventions: dict[str, Any] = {
        "model_registry_info.model_name": "iris-classifier-sklearn",
        "model_registry_info.model_format": "sklearn",
    }
    if alias:
        conventions["model_registry_info.model_alias"] = alias
        conventions["model_registry_info.model_uri"] = f"models:/iris-classifier-sklearn@{alias}"
    return conventions


def classify(id_: str, where: str, documented: Any = CLASSIFY_DOC) -> Example:
    """The documented classify request of one place of the specification."""
    return Example(id_, where, "POST", "/api/v1/classify", FLOWER, documented,
                   {"predicted_class": "setosa"})


def chat(id_: str, where: str, prompt: str, session: str, length: int) -> Example:
    """A documented chat request; conversation_length counts exchanges (1 after the first)."""
    return Example(id_, where, "POST", "/api/v1/chat", {"prompt": prompt, "session_id": session},
                   CHAT_DOC, {"session_id": session, "conversation_length": length,
                              "memory_stats.total_messages": 2 * length})


def semantic(id_: str, where: str, prompt: str, hit: bool | None,
             xfail: str | None = None) -> Example:
    """A documented chat-semantic request; ``hit`` is what the specification promises."""
    conventions: dict[str, Any] = {} if hit is None else {"cache_info.cache_hit": hit}
    return Example(id_, where, "POST", "/api/v1/chat-semantic", {"prompt": prompt},
                   SEMANTIC_DOC, conventions, xfail)


def benchmark(id_: str, where: str, iterations: int) -> Example:
    """The documented REST-vs-gRPC comparison with ``iterations``."""
    return Example(id_, where, "POST", "/api/v1/classify-benchmark",
                   {**FLOWER, "iterations": iterations}, BENCHMARK_DOC, BENCHMARK_CONVENTIONS)


def registry(id_: str, where: str, query: str, alias: str | None) -> Example:
    """A documented classify-registry request."""
    return Example(id_, where, "POST", f"/api/v1/classify-registry?{query}", FLOWER,
                   REGISTRY_DOC, registry_conventions(alias))


# In the specification's order. "where" names its section.
HTTP_EXAMPLES: list[Example] = [
    Example("health", "API Endpoints / Health Check", "GET", "/health"),
    Example("generate", "API Endpoints / LLM Text Generation (Basic)", "POST",
            "/api/v1/generate", {"prompt": "What is artificial intelligence?"},
            {"response": "..."}),
    Example("generate-secure", "API Endpoints / LLM Text Generation (Secure)", "POST",
            "/api/v1/generate-secure", {"prompt": "Explain machine learning"}, SECURE_DOC,
            {"security_analysis.injection_detected": False,
             "security_analysis.blocked": False}),
    classify("classify", "API Endpoints / Iris Classification (ONNX)"),
    chat("chat", "API Endpoints / Stateful Chat with Memory",
         "Hello, what can you help me with?", "user123-session", 1),
    Example("classify-detailed", "API Endpoints / Detailed Classification", "POST",
            "/api/v1/classify-detailed", FLOWER, DETAILED_DOC,
            {"predicted_class": "setosa", "model_info.type": "RandomForestClassifier"}),
    Example("classify-http", "API Endpoints / Network-Based HTTP Classification", "POST",
            "/api/v1/classify-http", FLOWER, SIDECAR_DOC,
            {"protocol": "HTTP", "predicted_class": "setosa"}),
    Example("classify-grpc", "API Endpoints / High-Performance gRPC Classification", "POST",
            "/api/v1/classify-grpc", FLOWER, SIDECAR_DOC,
            {"protocol": "gRPC", "predicted_class": "setosa"}),
    benchmark("classify-benchmark", "API Endpoints / Performance Comparison", 10),
    semantic("chat-semantic", "API Endpoints / Semantic Caching Chat", "What is AI?", None),
    semantic("chat-semantic-similar-1", "API Endpoints / Semantic Caching Chat (test with)",
             "What is artificial intelligence?", True),
    semantic("chat-semantic-similar-2", "API Endpoints / Semantic Caching Chat (test with)",
             "Explain artificial intelligence to me", True),
    Example("v2-generate", "API Endpoints / API Versioning (v2)", "POST", "/api/v2/generate",
            {"prompt": "Hello, this is a test of API v2", "model_version": "tinyllama"},
            V2_DOC, V2_CONVENTIONS),
    classify("classify-cached", "API Endpoints / Cached Classification", CACHED_CLASSIFY_DOC),
    Example("drift-report", "API Endpoints / Drift Monitoring Report", "GET",
            "/api/v1/drift-report?limit=50", None, DRIFT_DOC, DRIFT_CONVENTIONS),
    Example("classify-shifted", "API Endpoints / Drift Simulation", "POST",
            "/api/v1/classify-shifted", FLOWER, SHIFTED_DOC, SHIFTED_CONVENTIONS),
    registry("classify-registry-alias", "API Endpoints / Model Registry Classification",
             "model_format=sklearn&alias=production", "production"),
    registry("classify-registry-stage", "API Endpoints / Model Registry Classification (legacy)",
             "model_format=sklearn&stage=Production", None),
]

# The MLflow section's commands, then the monitoring workflow that follows them.
MONITORING_EXAMPLES: list[Example] = [
    classify("workflow-classify", "Production Monitoring Workflow 1"),
    Example("workflow-classify-shifted", "Production Monitoring Workflow 2", "POST",
            "/api/v1/classify-shifted", FLOWER, SHIFTED_DOC, SHIFTED_CONVENTIONS),
    Example("workflow-drift-report", "Production Monitoring Workflow 3", "GET",
            "/api/v1/drift-report?limit=50", None, DRIFT_DOC, DRIFT_CONVENTIONS),
    registry("workflow-registry-production", "Production Monitoring Workflow 5",
             "model_format=sklearn&alias=production", "production"),
    registry("workflow-registry-staging", "Production Monitoring Workflow (staging)",
             "model_format=sklearn&alias=staging", "staging"),
]

MANUAL_EXAMPLES: list[Example] = [
    Example("manual-health", "Manual Testing / Phase 1", "GET", "/health"),
    classify("manual-classify", "Manual Testing / Phase 1"),
    Example("manual-generate-secure", "Manual Testing / Phase 1", "POST",
            "/api/v1/generate-secure", {"prompt": "What is machine learning?"}, SECURE_DOC,
            {"security_analysis.blocked": False}),
    chat("manual-chat", "Manual Testing / Phase 2", "Hello, what can you help me with?",
         "test-session-1", 1),
    chat("manual-chat-follow-up", "Manual Testing / Phase 2 (follow-up)",
         "Can you explain that in more detail?", "test-session-1", 2),
    Example("manual-classify-detailed", "Manual Testing / Phase 2", "POST",
            "/api/v1/classify-detailed", FLOWER, DETAILED_DOC, {"predicted_class": "setosa"}),
    Example("manual-classify-grpc", "Manual Testing / Phase 2", "POST",
            "/api/v1/classify-grpc", FLOWER, SIDECAR_DOC, {"protocol": "gRPC"}),
    benchmark("manual-benchmark", "Manual Testing / Phase 2", 5),
    semantic("manual-semantic-first", "Manual Testing / Phase 3 (first call)",
             "What is AI?", None),
    semantic("manual-semantic-similar", "Manual Testing / Phase 3 (similar prompt: hit)",
             "What is artificial intelligence?", True),
    Example("manual-v2-generate", "Manual Testing / Phase 3", "POST", "/api/v2/generate",
            {"prompt": "Hello, this is API v2 test"}, V2_DOC, V2_CONVENTIONS),
    classify("manual-classify-first", "Manual Testing / Phase 3 (exact cache, first)",
             CACHED_CLASSIFY_DOC),
    classify("manual-classify-cached", "Manual Testing / Phase 3 (exact cache, again)",
             CACHED_CLASSIFY_DOC),
    semantic("troubleshooting-semantic", "Troubleshooting / Semantic Caching Issues",
             "What is AI?", True),
    benchmark("fair-benchmark", "Fair Performance Architecture", 20),
]

# Scripts: (id, section, argv after "python"), run in a scratch folder.
SCRIPT_EXAMPLES: list[tuple[str, str, list[str]]] = [
    ("batch-create-samples", "Batch Processing / Create Sample Files",
     ["scripts/batch_inference.py", "--create-samples"]),
    ("batch-text", "Batch Processing / Process Text File",
     ["scripts/batch_inference.py", "--input", "sample_prompts.txt", "--output",
      "results.json"]),
    ("batch-csv", "Batch Processing / Process CSV File",
     ["scripts/batch_inference.py", "--input", "sample_prompts.csv", "--csv", "--output",
      "results.json"]),
    ("train", "MLflow Model Registry / Model Registration & Training",
     ["scripts/train_iris_model.py"]),
]

# manage_models.py, exactly as documented (the order of the MLflow section).
CLI_EXAMPLES: list[tuple[str, list[str]]] = [
    ("cli-list", ["--list"]),
    ("cli-compare", ["--compare", "iris-classifier-sklearn"]),
    ("cli-alias-staging", ["--alias", "iris-classifier-sklearn", "1", "staging"]),
    ("cli-alias-production", ["--alias", "iris-classifier-sklearn", "1", "production"]),
    ("cli-alias-champion", ["--alias", "iris-classifier-sklearn", "1", "champion"]),
    ("cli-lineage", ["--lineage", "iris-classifier-sklearn", "1"]),
    ("cli-transition-staging", ["--transition", "iris-classifier-sklearn", "1", "Staging"]),
    ("cli-transition-production",
     ["--transition", "iris-classifier-sklearn", "1", "Production"]),
    ("cli-compat-alias", ["--alias", "iris-classifier-sklearn", "1", "production"]),
    ("cli-compat-transition", ["--transition", "iris-classifier-sklearn", "1", "Production"]),
]

TOTAL = (len(HTTP_EXAMPLES) + len(MONITORING_EXAMPLES) + len(MANUAL_EXAMPLES)
         + len(SCRIPT_EXAMPLES) + len(CLI_EXAMPLES))
