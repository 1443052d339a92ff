"""The shape comparison itself: it must report what a client written against the docs
would trip over, and nothing else."""

from __future__ import annotations

import pytest

from tests.contract.shapes import shape_errors, value_errors

pytestmark = [pytest.mark.unit, pytest.mark.contract]
DOC = {"predicted_class": "setosa", "probabilities": [0.9], "count": 1,
       "info": {"type": "RandomForestClassifier", "ok": True}}


def test_a_conforming_answer_with_extra_fields_passes() -> None:
    answer = {"predicted_class": "x", "probabilities": [1, 0.5], "count": 3, "more": 1,
              "info": {"type": "y", "ok": False, "extra": [1]}}
    assert shape_errors(DOC, answer) == []


def test_every_missing_or_mistyped_path_is_reported() -> None:
    answer = {"probabilities": ["high"], "count": 1.5, "info": {"model_type": "x", "ok": 1}}
    assert shape_errors(DOC, answer) == [
        "$.predicted_class: missing",
        "$.probabilities[0]: documented number, got string ('high')",
        "$.count: documented integer, got number (1.5)",
        "$.info.type: missing",
        "$.info.ok: documented boolean, got integer (1)",
    ]


def test_conventions_are_values_or_predicates() -> None:
    answer = {"results": {"rest": {"protocol": "http"}}, "n": 2}
    assert value_errors({"results.rest.protocol": "HTTP", "n": lambda n: n == 1,
                         "gone": 1}, answer) == [
        "results.rest.protocol: 'http' breaks the documented convention",
        "n: 2 breaks the documented convention",
        "gone: missing",
    ]
