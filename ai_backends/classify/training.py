"""Train the Iris RandomForest and write its artifacts atomically.

Artifacts: the ONNX model (served), a pickle (only to show why pickle is dangerous), the
metadata JSON, the hold-out accuracy, and the training split as the drift reference.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

# Written for the pickle-danger demo, never loaded by the service.
import pickle  # nosec B403
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ai_backends.classify.model import FEATURES, METADATA_FILE, MODEL_FILE
from ai_backends.classify.names import MODEL_NAME

PICKLE_FILE = "iris_classifier.pkl"
REFERENCE_FILE = "reference_iris.csv"
SEED = 42
TEST_SIZE = 0.2
N_ESTIMATORS = 100


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _library_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "onnx": onnx.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _reference_csv(features: np.ndarray, target: np.ndarray, class_names: list[str]) -> bytes:
    lines = [",".join((*FEATURES, "target", "target_name"))]
    for row, label in zip(features, target, strict=True):
        values = ",".join(f"{value:g}" for value in row)
        lines.append(f"{values},{int(label)},{class_names[int(label)]}")
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class TrainedModel:
    """What one training run produced: the estimator, its ONNX export and their metadata."""

    estimator: Any
    onnx_bytes: bytes
    metadata: dict[str, Any]


def train(model_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Train, check the ONNX export against sklearn, write every artifact; return the metadata."""
    return train_model(model_dir, data_dir).metadata


def train_model(model_dir: Path, data_dir: Path) -> TrainedModel:
    """Like ``train``, but also return the fitted estimator and ONNX bytes (for a registry)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    features = iris.data.astype(np.float32)
    target = iris.target
    class_names = [str(name) for name in iris.target_names]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=TEST_SIZE, stratify=target, random_state=SEED
    )

    started = time.perf_counter()
    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=SEED)
    model.fit(x_train, y_train)
    training_seconds = time.perf_counter() - started
    accuracy = float(model.score(x_test, y_test))

    onnx_model = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={id(model): {"zipmap": False}},  # probabilities as an array, not a list of maps
        target_opset=17,
        # A fixed graph name (skl2onnx draws a random one): the same training gives the same
        # bytes, so the content-hash version and the registry's "changed?" check are stable.
        name=MODEL_NAME,
    )
    onnx_bytes = onnx_model.SerializeToString()
    onnx_agreement = _onnx_agreement(onnx_bytes, model, features)

    pickle_buffer = io.BytesIO()
    pickle.dump(model, pickle_buffer)
    reference = _reference_csv(x_train, y_train, class_names)

    metadata: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_type": type(model).__name__,
        "model_version": hashlib.sha256(onnx_bytes).hexdigest()[:12],
        "params": {k: v for k, v in model.get_params().items() if _is_json_scalar(v)},
        "feature_names": list(FEATURES),
        "class_names": class_names,
        "feature_importances": dict(
            zip(FEATURES, map(float, model.feature_importances_), strict=True)
        ),
        "test_accuracy": accuracy,
        "onnx_agreement": onnx_agreement,
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
        "test_size": TEST_SIZE,
        "seed": SEED,
        "data_hash": hashlib.sha256(reference).hexdigest()[:12],
        "training_seconds": round(training_seconds, 4),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "library_versions": _library_versions(),
    }
    write_atomic(model_dir / MODEL_FILE, onnx_bytes)
    write_atomic(model_dir / PICKLE_FILE, pickle_buffer.getvalue())
    write_atomic(data_dir / REFERENCE_FILE, reference)
    # Metadata last: its presence means the model beside it is complete.
    write_atomic(model_dir / METADATA_FILE, json.dumps(metadata, indent=2).encode())
    return TrainedModel(estimator=model, onnx_bytes=onnx_bytes, metadata=metadata)


def _onnx_agreement(onnx_bytes: bytes, model: Any, features: np.ndarray) -> float:
    """Share of all Iris rows on which ONNX and sklearn predict the same class."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    onnx_labels = session.run(["label"], {"input": features})[0]
    return float(np.mean(onnx_labels == model.predict(features)))


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))
