"""Requests and responses of drift monitoring, drift simulation and registry inference."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ai_backends.classify.schemas import EXAMPLE, Classification, IrisFeatures
from ai_backends.mlops.shift import MAX_ADD, MAX_MULTIPLY, MIN_MULTIPLY

# The largest ``limit`` of a drift report; DRIFT_MAX_SAMPLES may lower it, not raise it.
DRIFT_LIMIT_MAX = 10_000

class DriftQuery(BaseModel):
    """How many of the latest logged classifications to compare with the reference."""

    limit: int = Field(default=1000, ge=1, le=DRIFT_LIMIT_MAX,
                       description=f"Last N logged classifications, 1..{DRIFT_LIMIT_MAX}")


class ColumnDrift(BaseModel):
    """Drift test result for one column."""

    drift_detected: bool
    drift_score: float = Field(
        description="The specification's score, large = drift: 1 - p_value for a p-value "
                    "test, the distance itself for a distance test")
    p_value: float | None = Field(
        description="The test's p-value, small = drift (drift when below threshold); null "
                    "for a distance test")
    statistical_test: str = Field(description="e.g. 'kolmogorov_smirnov' or 'chi_square'")
    test_method: str = Field(description="Evidently's name, e.g. 'K-S p_value'")
    threshold: float = Field(description="Compared with p_value (or with the distance)")


class PredictionDrift(ColumnDrift):
    """Drift of the distribution of predicted classes."""

    current_distribution: dict[str, float] = Field(description="Share of each predicted class")
    reference_distribution: dict[str, float]


class DriftAnalysis(BaseModel):
    """What changed between the reference and the recent traffic."""

    drift_detected: bool = Field(description="True when at least one column drifted")
    overall_drift_score: float = Field(
        description="Share of drifted columns (4 measurements + predicted class)")
    drifted_columns: int
    feature_drift_scores: dict[str, ColumnDrift]
    prediction_drift: PredictionDrift
    analysis_timestamp: str


class DataSummary(BaseModel):
    """How many rows went into the comparison."""

    reference_samples: int
    analyzed_samples: int
    total_production_samples: int = Field(description="Rows in the whole prediction log")
    min_samples: int = Field(description="DRIFT_MIN_SAMPLES: fewest rows for a trusted report")
    sufficient_samples: bool = Field(
        description="False when fewer than min_samples rows were analysed (the report "
                    "then never recommends retraining)")


class Recommendations(BaseModel):
    """What to do about it."""

    retrain_model: bool = Field(
        description="True for MEDIUM_DRIFT and HIGH_DRIFT on sufficient samples")
    investigate_features: list[str] = Field(description="Drifted measurements, worst first")
    monitoring_status: Literal["NO_DRIFT", "LOW_DRIFT", "MEDIUM_DRIFT", "HIGH_DRIFT"] = Field(
        description="NO_DRIFT: no column drifted; LOW_DRIFT: 1 of 5; MEDIUM_DRIFT: 2 of 5; "
                    "HIGH_DRIFT: 3 or "
                    "more (Evidently's dataset drift, share >= 0.5)")
    note: str | None = Field(None, description="Why the report should not be trusted yet")


class DriftReport(BaseModel):
    """A drift report (the HTML version is at ``html_report``)."""

    drift_analysis: DriftAnalysis
    data_summary: DataSummary
    recommendations: Recommendations
    html_report: str


class Shift(BaseModel):
    """``value * multiply + add`` on one measurement."""

    model_config = ConfigDict(extra="forbid")

    add: float = Field(default=0.0, ge=-MAX_ADD, le=MAX_ADD, allow_inf_nan=False)
    multiply: float = Field(default=1.0, ge=MIN_MULTIPLY, le=MAX_MULTIPLY, allow_inf_nan=False)


class Shifts(BaseModel):
    """The shift of each measurement to change; the others stay as sent."""

    model_config = ConfigDict(extra="forbid")

    sepal_length: Shift | None = None
    sepal_width: Shift | None = None
    petal_length: Shift | None = None
    petal_width: Shift | None = None


class ShiftedRequest(IrisFeatures):
    """One flower, and optionally the shifts to apply (default: sepal_length +1.5,
    petal_width x1.3)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            EXAMPLE, {**EXAMPLE, "shifts": {"petal_length": {"add": 3.0}}},
        ]},
    )

    shifts: Shifts | None = Field(
        default=None, description="Per-feature shifts; omit for the documented defaults")

    def shift_map(self) -> dict[str, dict[str, float]] | None:
        """The requested shifts as plain dicts, or None for the defaults."""
        if self.shifts is None:
            return None
        return {name: shift.model_dump() for name, shift in self.shifts if shift is not None}


class AppliedShift(BaseModel):
    """One shift and its effect on the value."""

    add: float
    multiply: float
    original: float
    shifted: float
    clipped: bool = Field(description="True when the result was clipped into [0.01, 100] cm")


class DriftSimulation(BaseModel):
    """How the shift changed the answer."""

    applied_shifts: dict[str, str] = Field(
        description='Each shift as text, e.g. "+1.5 units" or "*1.3 multiplier"')
    shift_details: dict[str, AppliedShift] = Field(
        description="The same shifts as numbers, with each value before and after")
    prediction_changed: bool
    confidence_change: float = Field(description="Shifted confidence minus original")


class ShiftedClassification(BaseModel):
    """The answers for the original and the shifted flower."""

    original_prediction: Classification
    shifted_prediction: Classification
    drift_simulation: DriftSimulation


class RegistryQuery(BaseModel):
    """Which registered model to use: ``version``, else ``stage``, else ``alias`` (default
    production)."""

    model_config = ConfigDict(extra="forbid")

    model_format: Literal["sklearn", "onnx"] = "onnx"
    alias: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                              description="Registry alias; 'production' when nothing is given")
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    stage: Literal["None", "Staging", "Production", "Archived"] | None = Field(
        default=None, description="Deprecated: MLflow stages; use an alias")


class ModelRegistryInfo(BaseModel):
    """Which registry model answered."""

    model_name: str
    model_format: str
    model_version: str
    model_stage: str
    model_alias: str | None
    model_uri: str
    mlflow_tracking_uri: str


class RegistryClassification(Classification):
    """A prediction by a registry model, and which one."""

    model_registry_info: ModelRegistryInfo


def html_response(description: str) -> dict[str, Any]:
    """OpenAPI entry of a text/html response."""
    return {"description": description,
            "content": {"text/html": {"schema": {"type": "string"}}}}
