"""Drift simulation: classify a flower and a systematically shifted copy of it.

Each shift is ``value * multiply + add`` on one measurement. The default shifts move two
features the way a miscalibrated instrument would, enough for a drift report on a few
dozen such requests to flag them. Only the shifted copy is logged (endpoint
``classify-shifted``), so the prediction log sees the drifted traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ai_backends.classify.model import FEATURES, MEASUREMENT_MAX
from ai_backends.classify.service import ClassificationService

# Documented defaults: sepal_length +1.5 cm, petal_width x1.3.
DEFAULT_SHIFTS: dict[str, dict[str, float]] = {
    "sepal_length": {"add": 1.5, "multiply": 1.0},
    "petal_width": {"add": 0.0, "multiply": 1.3},
}
# Bounds of shifts a request may choose (also in the request schema).
MAX_ADD = 10.0
MIN_MULTIPLY = 0.1
MAX_MULTIPLY = 5.0
# Shifted values are clipped into [MIN_SHIFTED, MEASUREMENT_MAX] so they stay valid inputs.
MIN_SHIFTED = 0.01


def apply_shifts(row: Mapping[str, float],
                 shifts: Mapping[str, Mapping[str, float]]) -> tuple[list[float], dict[str, Any]]:
    """The shifted feature row and what was applied per feature.

    A shifted value outside the valid range is clipped into [MIN_SHIFTED, 100] cm and
    marked ``clipped``: the request itself was valid, so it gets an answer, not an error.
    """
    shifted = []
    applied: dict[str, Any] = {}
    for name in FEATURES:
        value = float(row[name])
        shift = shifts.get(name)
        if shift is None:
            shifted.append(value)
            continue
        add, multiply = float(shift.get("add", 0.0)), float(shift.get("multiply", 1.0))
        raw = round(value * multiply + add, 6)
        new = min(max(raw, MIN_SHIFTED), MEASUREMENT_MAX)
        applied[name] = {"add": add, "multiply": multiply, "original": value, "shifted": new,
                         "clipped": new != raw}
        shifted.append(new)
    return shifted, applied


def describe_shift(add: float, multiply: float) -> str:
    """The specification's text of a shift: ``"+1.5 units"``, ``"*1.3 multiplier"``, or
    both joined by ``", "`` (multiplier first, as it is applied first)."""
    parts = []
    if multiply != 1.0:
        parts.append(f"*{multiply:g} multiplier")
    if add != 0.0 or not parts:
        parts.append(f"{add:+g} units")
    return ", ".join(parts)


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
            # The specification's strings; the numbers behind them in shift_details.
            "applied_shifts": {name: describe_shift(entry["add"], entry["multiply"])
                               for name, entry in applied.items()},
            "shift_details": applied,
            "prediction_changed": original.predicted_class != shifted.predicted_class,
            "confidence_change": round(shifted.confidence - original.confidence, 6),
        },
    }
