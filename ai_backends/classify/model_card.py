"""The model card: training metadata of the served classifier."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelCard(BaseModel):
    """What the served Iris classifier is and how it was trained (its metadata JSON)."""

    # Training may add fields (library versions, data hash...); they are passed through.
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model_name: str
    model_type: str
    model_version: str = Field(description="Content hash of the ONNX file")
    params: dict[str, Any] = Field(description="Hyperparameters of the estimator")
    feature_names: list[str]
    class_names: list[str]
    feature_importances: dict[str, float]
    test_accuracy: float = Field(description="Accuracy on the hold-out split")
    trained_at: str = Field(description="UTC, ISO 8601")
