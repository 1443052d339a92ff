"""Drift simulation: classify a flower and a systematically shifted copy of it.

Each shift is ``value * multiply + add`` on one measurement. The default shifts move two
features the way a miscalibrated instrument would, enough for a drift report on a few
dozen such requests to flag them. Only the shifted copy is logged (endpoint
``classify-shifted``), so the prediction log sees the drifted traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .classification import ClassificationService
from .classifier import FEATURES, MEASUREMENT_MAX, MEASUREMENT_MIN_EXCLUSIVE
from .errors import InvalidInput

# Documented defaults: sepal_length +1.5 cm, petal_width x1.3.
DEFAULT_SHIFTS: dict[str, dict[str, float]] = {
    "sepal_length": {"add": 1.5, "multiply": 1.0},
    "petal_width": {"add": 0.0, "multiply": 1.3},
}
# Bounds of shifts a request may choose (also in the request schema).
MAX_ADD = 10.0
MIN_MULTIPLY = 0.1
MAX_MULTIPLY = 5.0


def apply_shifts(row: Mapping[str, float],
                 shifts: Mapping[str, Mapping[str, float]]) -> tuple[list[float], dict[str, Any]]:
    """The shifted feature row and what was applied per feature; 422 if a value leaves range."""
    shifted = []
    applied: dict[str, Any] = {}
    errors = []
    for name in FEATURES:
        value = float(row[name])
        shift = shifts.get(name)
        if shift is None:
            shifted.append(value)
            continue
        add, multiply = float(shift.get("add", 0.0)), float(shift.get("multiply", 1.0))
        new = round(value * multiply + add, 6)
        applied[name] = {"add": add, "multiply": multiply, "original": value, "shifted": new}
        if not MEASUREMENT_MIN_EXCLUSIVE < new <= MEASUREMENT_MAX:
            errors.append({
                "field": f"shifts.{name}",
                "message": f"{value:g} * {multiply:g} + {add:g} = {new:g} is outside "
                           f"({MEASUREMENT_MIN_EXCLUSIVE:g}, {MEASUREMENT_MAX:g}] cm",
                "type": "shifted_out_of_range",
            })
        shifted.append(new)
    if errors:
        raise InvalidInput("a shifted measurement leaves the valid range; choose a smaller "
                           "shift", errors=errors)
    return shifted, applied


def classify_shifted(service: ClassificationService, row: Mapping[str, float],
                     shifts: Mapping[str, Mapping[str, float]] | None,
                     request_id: str) -> dict[str, Any]:
    """Classify ``row`` and its shifted copy; log only the shifted one."""
    chosen = DEFAULT_SHIFTS if shifts is None else shifts
    shifted_row, applied = apply_shifts(row, chosen)
    original = service.classify([[float(row[name]) for name in FEATURES]], "classify-shifted",
                                request_id, log=False)[0]
    shifted = service.classify([shifted_row], "classify-shifted", request_id)[0]
    return {
        "original_prediction": original.to_dict(),
        "shifted_prediction": shifted.to_dict(),
        "drift_simulation": {
            "applied_shifts": applied,
            "prediction_changed": original.predicted_class != shifted.predicted_class,
            "confidence_change": round(shifted.confidence - original.confidence, 6),
        },
    }
