"""Requests and responses of the classification endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag

from ai_backends.classify.model import MEASUREMENT_MAX, MEASUREMENT_MIN

MAX_BATCH_SIZE = 1000

Measurement = Annotated[
    float,
    Field(
        ge=MEASUREMENT_MIN,
        le=MEASUREMENT_MAX,
        strict=True,  # "5.1" (a string) is an error, not a number
        allow_inf_nan=False,
        description="Length in centimetres, 0.001 <= x <= 100",
    ),
]

EXAMPLE: dict[str, Any] = {
    "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2,
}


class IrisFeatures(BaseModel):
    """The four measurements of one flower, in centimetres."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement

    def as_row(self) -> list[float]:
        """The features in model column order."""
        return [self.sepal_length, self.sepal_width, self.petal_length, self.petal_width]


class IrisBatch(BaseModel):
    """Several flowers classified in one request."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"samples": [EXAMPLE, EXAMPLE]}]}
    )

    samples: list[IrisFeatures] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


def _request_form(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "samples" in value else "single"


class ClassifyRequest(RootModel):
    """One flower (the four fields) or a batch (``{"samples": [...]}``)."""

    root: Annotated[
        Annotated[IrisFeatures, Tag("single")] | Annotated[IrisBatch, Tag("batch")],
        Discriminator(_request_form),
    ]

    def rows(self) -> list[list[float]]:
        """Feature rows of the request, one per flower."""
        samples = self.root.samples if isinstance(self.root, IrisBatch) else [self.root]
        return [sample.as_row() for sample in samples]

    @property
    def is_batch(self) -> bool:
        """True for the batch form."""
        return isinstance(self.root, IrisBatch)


class ClassPrediction(BaseModel):
    """The model's answer for one flower, whichever path produced it."""

    predicted_class: str
    predicted_class_index: int
    probabilities: list[float] = Field(description="One per class, in all_classes order")
    confidence: float = Field(description="Probability of the predicted class")
    all_classes: list[str]
    model_version: str


class Classification(ClassPrediction):
    """The prediction for one flower, from the API's own model."""

    cache_hit: bool = Field(description="True when the answer came from the exact cache")


class BatchClassification(BaseModel):
    """The predictions for a batch, in request order."""

    predictions: list[Classification]
    count: int
    cache_hits: int
    model_version: str


class ClassifyResponse(RootModel[Classification | BatchClassification]):
    """A single prediction, or a batch of them for the batch form."""


class ModelInfo(BaseModel):
    """What the served model is."""

    type: str = Field(description="Estimator class, e.g. RandomForestClassifier")
    model_name: str
    model_type: str
    model_version: str
    n_estimators: int | None
    max_depth: int | None
    params: dict[str, Any]
    test_accuracy: float
    feature_names: list[str]
    trained_at: str


class DetailedClassification(Classification):
    """A prediction (its fields at the top level, as documented, and again under
    ``prediction``) with the raw NumPy arrays behind it and a serialization demo."""

    prediction: Classification
    raw_probabilities: list[float] = Field(description="np.ndarray float32, as produced")
    feature_importances: list[float] = Field(description="np.ndarray float64, feature order")
    input_array: list[list[float]] = Field(description="The float32 [1, 4] model input")
    model_info: ModelInfo
    serialization_demo: dict[str, Any] = Field(
        description="NumPy values a plain json.dumps rejects, as the JSON provider encodes "
                    "them: numpy_int, numpy_float and numpy_array (documented), and more"
    )
