"""The Iris classifier as an ONNX runtime: load once, validate features, predict a batch.

This is the inference core shared by the API and both sidecars: the same checks and the
same errors, whatever the transport.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_backends.classify.names import MODEL_NAME
from ai_backends.core.errors import InvalidInput, Unavailable
from ai_backends.core.health import ProbeResult

MODEL_FILE = "iris_classifier.onnx"
METADATA_FILE = "iris_classifier_metadata.json"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# A measurement is a length in centimetres, from 10 micrometres to a metre. Both bounds
# survive the model's float32 conversion: a value inside stays inside after rounding, so
# the API (float64 JSON) and the sidecars (FP32 tensors) accept exactly the same inputs.
MEASUREMENT_MIN = 0.001
MEASUREMENT_MAX = 100.0


@dataclass(frozen=True)
class ClassifierOutput:
    """Model output for a batch: class index per row and class probabilities per row."""

    labels: np.ndarray  # int64, shape [n]
    probabilities: np.ndarray  # float32, shape [n, n_classes]


def prediction_answer(labels: np.ndarray, probabilities: np.ndarray, position: int,
                      classes: list[str], model_version: str) -> dict[str, Any]:
    """The JSON-ready answer for row ``position`` of a model output: the one shape of a
    prediction, whichever model (API, sidecar, registry) produced it."""
    index = int(labels[position])
    row = [float(p) for p in probabilities[position]]
    return {
        "predicted_class": classes[index],
        "predicted_class_index": index,
        "probabilities": row,
        "confidence": row[index],
        "all_classes": list(classes),
        "model_version": model_version,
    }


def check_features(features: Any) -> np.ndarray:
    """Return ``features`` as a float32 [n, 4] array, or raise ``InvalidInput`` saying why."""
    try:
        array = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"features must be numbers: {exc}") from exc
    if array.ndim != 2 or array.shape[1] != len(FEATURES) or array.shape[0] == 0:
        raise InvalidInput(
            f"features must have shape [n, {len(FEATURES)}] with n >= 1, got {list(array.shape)}"
        )
    if not np.isfinite(array).all():
        raise InvalidInput("features must be finite numbers (no NaN or infinity)")
    if (array < MEASUREMENT_MIN).any() or (array > MEASUREMENT_MAX).any():
        raise InvalidInput(
            f"each measurement must be in [{MEASUREMENT_MIN:g}, {MEASUREMENT_MAX:g}] cm"
        )
    return array


def onnx_session(path: str | Path) -> Any:
    """An onnxruntime session on the CPU for a small model: one thread per call."""
    import onnxruntime as ort  # imported here: the package is cheap to import

    options = ort.SessionOptions()
    # A few-microsecond model: one thread per call beats waking a thread pool.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxClassifier:
    """The trained Iris RandomForest, served through onnxruntime (never through pickle)."""

    name = MODEL_NAME

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir)
        self._session: Any = None
        self._metadata: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        """Path of the ONNX file."""
        return self.model_dir / MODEL_FILE

    def load(self) -> None:
        """Load the ONNX session and metadata once; raise ``Unavailable`` if they are missing."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            metadata_path = self.model_dir / METADATA_FILE
            if not self.model_path.exists() or not metadata_path.exists():
                raise Unavailable(
                    f"model not found in {self.model_dir}; run scripts/train_iris_model.py",
                    retry_after=60,
                )
            self._metadata = json.loads(metadata_path.read_text())
            self._session = onnx_session(self.model_path)

    def ready(self) -> bool:
        """True once the model is loaded."""
        return self._session is not None

    @property
    def metadata(self) -> dict[str, Any]:
        """Training metadata written next to the model (params, accuracy, versions)."""
        self.load()
        return self._metadata

    @property
    def version(self) -> str:
        """Content hash of the ONNX file: retraining gives a new version."""
        return str(self.metadata["model_version"])

    @property
    def classes(self) -> list[str]:
        """Class names, in the order of the probability columns."""
        return list(self.metadata["class_names"])

    def predict(self, inputs: np.ndarray) -> ClassifierOutput:
        """Classify a float32 [n, 4] batch that ``check_features`` has already validated."""
        self.load()
        labels, probabilities = self._session.run(None, {"input": inputs})
        return ClassifierOutput(
            labels=np.asarray(labels, dtype=np.int64),
            probabilities=np.asarray(probabilities, dtype=np.float32),
        )

    def probe(self, timeout: float) -> ProbeResult:  # noqa: ARG002 - a local file load
        """Health of the model: loads it (once) and names the file and version."""
        self.load()
        detail = f"{self.name} version {self.version} from {Path(self.model_path).name}"
        return ProbeResult(True, "embedded (onnxruntime)", detail)
