"""Classification service: exact cache, ONNX model and prediction log around one batch call.

Routes (single, batch, detailed) and scripts call ``ClassificationService``; it never
touches Flask's request objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ai_backends.cache.exact import ExactCache
from ai_backends.classify.model import (
    ClassifierOutput,
    OnnxClassifier,
    check_features,
    prediction_answer,
)
from ai_backends.classify.predlog import PredictionStore


@dataclass(frozen=True)
class Prediction:
    """The answer for one flower (the fields of the ``Classification`` schema)."""

    predicted_class: str
    predicted_class_index: int
    probabilities: list[float]
    confidence: float
    all_classes: list[str]
    model_version: str
    cache_hit: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for a JSON response (the lists are shared with this prediction)."""
        return dict(self.__dict__)


def cache_key(model_version: str, row: np.ndarray) -> str:
    """Cache key of one float32 feature row: the model version and the row's exact bits.

    The model sees float32, so two inputs that become the same float32 (5 and 5.0, or
    5.1 and 5.1000000001) are the same question and share one entry.
    """
    return f"{model_version}:{row.tobytes().hex()}"


class ClassificationService:
    """Classifies batches of Iris measurements with caching and logging."""

    def __init__(self, model: OnnxClassifier, cache: ExactCache, log: PredictionStore) -> None:
        self.model = model
        self.cache = cache
        self.log = log

    def classify(self, rows: Any, endpoint: str, request_id: str,
                 log: bool = True) -> list[Prediction]:
        """Predict every row: cached rows from Redis, the rest from the model; log them all.

        ``log=False`` leaves the prediction log alone (the unshifted half of a drift
        simulation is not production traffic).
        """
        started = time.perf_counter()
        features = check_features(rows)
        version = self.model.version
        keys = [cache_key(version, row) for row in features]
        found = self.cache.lookup(keys)
        missing = [i for i, hit in enumerate(found) if hit is None]
        fresh: dict[str, Any] = {}
        if missing:
            output = self.model.predict(features[missing])
            for position, i in enumerate(missing):
                fresh[keys[i]] = self._answer(output, position)
            self.cache.insert(fresh)
        predictions = [
            Prediction(**(found[i] or fresh[keys[i]]), cache_hit=found[i] is not None)
            for i in range(len(keys))
        ]
        latency_ms = (time.perf_counter() - started) * 1000
        if log:
            self.log.record(endpoint, request_id, features, (p.to_dict() for p in predictions),
                            latency_ms)
        return predictions

    def classify_detailed(self, row: list[float], request_id: str) -> dict[str, Any]:
        """Predict one row straight from the model and return the raw NumPy arrays with it."""
        started = time.perf_counter()
        features = check_features([row])
        output = self.model.predict(features)
        prediction = Prediction(**self._answer(output, 0), cache_hit=False)
        latency_ms = (time.perf_counter() - started) * 1000
        self.log.record("classify-detailed", request_id, features, [prediction.to_dict()],
                        latency_ms)
        metadata = self.model.metadata
        params = metadata["params"]
        return {
            # The specification's shape: the prediction's fields at the top level ...
            **prediction.to_dict(),
            # ... and, as before, nested (clients written against either keep working).
            "prediction": prediction.to_dict(),
            "raw_probabilities": output.probabilities[0],
            "feature_importances": np.array(list(metadata["feature_importances"].values())),
            "input_array": features,
            "model_info": {
                "type": metadata["model_type"],
                "model_name": metadata["model_name"],
                "model_type": metadata["model_type"],
                "model_version": metadata["model_version"],
                "n_estimators": params.get("n_estimators"),
                "max_depth": params.get("max_depth"),
                "params": params,
                "test_accuracy": metadata["test_accuracy"],
                "feature_names": metadata["feature_names"],
                "trained_at": metadata["trained_at"],
            },
            "serialization_demo": {
                # The three values the specification documents ...
                "numpy_int": np.int64(output.labels[0]),
                "numpy_float": np.float64(prediction.confidence),
                "numpy_array": np.arange(1, 6, dtype=np.int64),
                # ... and the harder cases the JSON provider also handles.
                "numpy_int64": np.int64(output.labels[0]),
                "numpy_float32": output.probabilities[0].max(),
                "numpy_bool": np.bool_(prediction.confidence > 0.5),
                "numpy_array_2d": np.arange(6, dtype=np.int32).reshape(2, 3),
                "numpy_nan_becomes_null": np.float64("nan"),
                "numpy_datetime64": np.datetime64("2024-01-01T12:00:00"),
                "numpy_complex": np.complex128(1 + 2j),
            },
        }

    def _answer(self, output: ClassifierOutput, position: int) -> dict[str, Any]:
        """The JSON-ready answer for row ``position`` of a model output."""
        return prediction_answer(output.labels, output.probabilities, position,
                                 self.model.classes, self.model.version)
