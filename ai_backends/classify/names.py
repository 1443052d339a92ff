"""Names of the Iris models, declared once (standard library only: the bootstrap reads it).

The API's own ONNX model and the sidecars serve ``iris-classifier``; one training run is
registered in MLflow twice, as ``iris-classifier-sklearn`` and ``iris-classifier-onnx``,
in the experiment ``iris-classifier``.
"""

from __future__ import annotations

from typing import Final

MODEL_NAME: Final = "iris-classifier"
SKLEARN_MODEL: Final = "iris-classifier-sklearn"
ONNX_MODEL: Final = "iris-classifier-onnx"
# Registered model name by model format (the classify-registry ``model_format`` values).
MODEL_NAMES: Final = {"sklearn": SKLEARN_MODEL, "onnx": ONNX_MODEL}
REGISTERED_MODELS: Final = tuple(MODEL_NAMES.values())
EXPERIMENT: Final = MODEL_NAME
