"""The inference core of both sidecars: health, metadata and tensor inference.

Like MLServer's ``DataPlane``: the REST and gRPC servers only translate their transport to
the core types here (``InferInput`` in, ``InferOutput`` out) and map ``ServiceError``s to
their own error form. Feature values are validated by the classifier's
``check_features``, so the API and both sidecars accept and reject the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ai_backends import __version__
from ai_backends.classify.model import FEATURES, OnnxClassifier, check_features
from ai_backends.core.errors import BadRequest, InvalidInput, NotFound

SERVER_NAME = "ai-backends-py"
PLATFORM = "onnxruntime_onnx"
INPUT_NAME = "input"
INPUT_DATATYPE = "FP32"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"


@dataclass(frozen=True)
class TensorSpec:
    """Name, datatype and shape of a model tensor; -1 is a dimension of any size."""

    name: str
    datatype: str
    shape: list[int]

    def to_dict(self) -> dict[str, Any]:
        """The protocol's tensor metadata object."""
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


@dataclass(frozen=True)
class InferInput:
    """One decoded input tensor: its declared header and its elements, flattened."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray  # one dimension, row-major, dtype of ``datatype``


@dataclass(frozen=True)
class InferOutput:
    """One output tensor; ``data`` already has ``shape``."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray


@dataclass(frozen=True)
class InferResult:
    """The answer to one inference request."""

    model_name: str
    model_version: str
    outputs: list[InferOutput]
    id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


class DataPlane:
    """Serves one ONNX classifier under the Open Inference Protocol."""

    def __init__(self, model: OnnxClassifier) -> None:
        self.model = model

    # --- health and metadata -------------------------------------------------------------

    def live(self) -> bool:
        """The process answers: always true while it runs."""
        return True

    def ready(self) -> bool:
        """Ready when the model is loaded (loading it now if needed)."""
        try:
            self.model.load()
        except Exception:  # a missing or broken model means not ready, never a crash
            return False
        return self.model.ready()

    def server_metadata(self) -> dict[str, Any]:
        """Server name, version and protocol extensions (none)."""
        return {"name": SERVER_NAME, "version": __version__, "extensions": []}

    def model_ready(self, name: str, version: str = "") -> bool:
        """Whether the named model (and version) is ready; unknown names are ``NotFound``."""
        self.check_model(name, version)
        return self.ready()

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        """Name, versions, platform and the true tensor signatures of the model."""
        self.check_model(name, version)
        return {
            "name": self.model.name,
            "versions": [self.model.version],
            "platform": PLATFORM,
            "inputs": [spec.to_dict() for spec in self.input_specs()],
            "outputs": [spec.to_dict() for spec in self.output_specs()],
        }

    def input_specs(self) -> list[TensorSpec]:
        """The model's one input: a batch of feature rows."""
        return [TensorSpec(INPUT_NAME, INPUT_DATATYPE, [-1, len(FEATURES)])]

    def output_specs(self) -> list[TensorSpec]:
        """The model's outputs: class probabilities per row and the class index per row."""
        return [
            TensorSpec(PROBABILITIES_OUTPUT, "FP32", [-1, len(self.model.classes)]),
            TensorSpec(LABEL_OUTPUT, "INT64", [-1]),
        ]

    def check_model(self, name: str, version: str = "") -> None:
        """Raise ``NotFound`` unless ``name`` (and ``version``, if given) is the served model."""
        if name != self.model.name:
            raise NotFound(f"unknown model '{name}'; this server serves '{self.model.name}'")
        self.model.load()  # Unavailable when the model files are missing
        if version and version != self.model.version:
            raise NotFound(
                f"model '{name}' has no version '{version}'; available: {self.model.version}"
            )

    # --- inference -----------------------------------------------------------------------

    def infer(
        self,
        name: str,
        version: str,
        inputs: list[InferInput],
        requested_outputs: list[str] | None = None,
        request_id: str = "",
    ) -> InferResult:
        """Validate the input tensor, run the model and return the requested outputs."""
        self.check_model(name, version)
        features = self._features(inputs)
        known = [LABEL_OUTPUT, PROBABILITIES_OUTPUT]
        unknown = [n for n in requested_outputs or [] if n not in known]
        if unknown:
            raise BadRequest(f"unknown output {unknown[0]!r}; the model has {known}")
        try:
            features = check_features(features)  # the same value checks as the API
        except InvalidInput as exc:  # bad values in a well-formed tensor: still a bad tensor
            raise BadRequest(f"input '{INPUT_NAME}': {exc.detail}") from exc
        output = self.model.predict(features)
        n_rows = features.shape[0]
        available = {
            PROBABILITIES_OUTPUT: InferOutput(
                PROBABILITIES_OUTPUT, "FP32", [n_rows, output.probabilities.shape[1]],
                output.probabilities,
            ),
            LABEL_OUTPUT: InferOutput(LABEL_OUTPUT, "INT64", [n_rows], output.labels),
        }
        names = requested_outputs or list(available)
        return InferResult(self.model.name, self.model.version,
                           [available[n] for n in names], id=request_id)

    def _features(self, inputs: list[InferInput]) -> np.ndarray:
        """The [n, 4] feature array of a well-formed request, or a ``BadRequest`` saying why."""
        if len(inputs) != 1:
            raise BadRequest(f"expected exactly 1 input tensor '{INPUT_NAME}', got {len(inputs)}")
        tensor = inputs[0]
        if tensor.name != INPUT_NAME:
            raise BadRequest(f"unknown input '{tensor.name}'; the model's input is '{INPUT_NAME}'")
        if tensor.datatype != INPUT_DATATYPE:
            raise BadRequest(
                f"input '{INPUT_NAME}' must have datatype {INPUT_DATATYPE}, got {tensor.datatype}"
            )
        shape = tensor.shape
        if len(shape) != 2 or shape[1] != len(FEATURES) or shape[0] < 1:
            raise BadRequest(
                f"input '{INPUT_NAME}' must have shape [n, {len(FEATURES)}] with n >= 1, "
                f"got {shape}"
            )
        expected = shape[0] * shape[1]
        if tensor.data.size != expected:
            raise BadRequest(
                f"input '{INPUT_NAME}' has {tensor.data.size} elements but shape {shape} "
                f"needs {expected}"
            )
        return tensor.data.reshape(shape)
