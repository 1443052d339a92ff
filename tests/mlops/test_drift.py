"""Drift reports and drift simulation, as a user would try them through the API."""

from __future__ import annotations

from typing import Any

import psutil
import pytest
from sklearn.datasets import load_iris

from ai_backends.classify.model import FEATURES
from ai_backends.classify.predlog import PredictionLog
from ai_backends.mlops.schemas import DriftReport, ShiftedClassification
from tests.metrics import metric

pytestmark = pytest.mark.integration

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def normal_samples(count: int = 50) -> list[dict[str, float]]:
    """Real Iris flowers spread over all three classes (every third of the 150)."""
    data = load_iris().data
    rows = [data[i] for i in range(0, 150, 3)][:count]
    return [dict(zip(FEATURES, map(float, row), strict=True)) for row in rows]


def drift_jobs_running() -> list[int]:
    """The drift-job processes this test process has started that still run."""
    return [child.pid for child in psutil.Process().children()
            if "ai_backends.mlops.drift_job" in " ".join(child.cmdline())]


def test_normal_traffic_shows_no_drift_then_shifted_traffic_does(client: Any) -> None:
    samples = normal_samples()
    assert client.post("/api/v1/classify", json={"samples": samples}).status_code == 200

    normal = client.get("/api/v1/drift-report?limit=50")
    assert normal.status_code == 200, normal.json
    report = DriftReport.model_validate(normal.json)
    assert report.recommendations.monitoring_status == "NO_DRIFT"
    assert report.drift_analysis.drift_detected is False
    assert report.recommendations.retrain_model is False
    assert report.recommendations.investigate_features == []
    assert set(report.drift_analysis.feature_drift_scores) == set(FEATURES)
    assert report.drift_analysis.prediction_drift.drift_detected is False
    assert report.data_summary.analyzed_samples == 50
    assert report.data_summary.reference_samples == 120
    assert metric(client, "drift_monitoring_status") == 0
    # DRIFT_JOB_LINGER_SECONDS is 0 by default: the report's process has ended already, and
    # the next report starts one of its own.
    assert drift_jobs_running() == []
    sepal = report.drift_analysis.feature_drift_scores["sepal_length"]
    assert sepal.statistical_test == "kolmogorov_smirnov" and sepal.test_method == "K-S p_value"
    assert sepal.p_value is not None and sepal.drift_score == pytest.approx(1 - sepal.p_value, abs=1e-6)

    for sample in samples:
        assert client.post("/api/v1/classify-shifted", json=sample).status_code == 200
    shifted = DriftReport.model_validate(client.get("/api/v1/drift-report?limit=50").json)
    scores = shifted.drift_analysis.feature_drift_scores
    assert scores["sepal_length"].drift_detected and scores["petal_width"].drift_detected
    # Documented: large drift_score = drift; the project's p_value: small = drift.
    assert scores["sepal_length"].drift_score > 0.95 and scores["sepal_length"].p_value < 0.05
    assert not scores["sepal_width"].drift_detected
    assert {"sepal_length", "petal_width"} <= set(shifted.recommendations.investigate_features)
    assert shifted.recommendations.monitoring_status in {"MEDIUM_DRIFT", "HIGH_DRIFT"}
    assert metric(client, "drift_monitoring_status") == {"MEDIUM_DRIFT": 2, "HIGH_DRIFT": 3}[
        shifted.recommendations.monitoring_status]
    assert shifted.recommendations.retrain_model is True
    assert shifted.drift_analysis.overall_drift_score >= 0.4
    assert shifted.data_summary.total_production_samples == 100

    # The whole log (half normal, half shifted) still flags the shifted features.
    mixed = client.get("/api/v1/drift-report?limit=100").json
    assert mixed["drift_analysis"]["feature_drift_scores"]["sepal_length"]["drift_detected"]
    assert drift_jobs_running() == []


def test_html_report_is_served_after_a_report(client: Any) -> None:
    missing = client.get("/api/v1/drift-report/html")
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    client.post("/api/v1/classify", json={"samples": normal_samples(40)})
    assert client.get("/api/v1/drift-report?limit=40").status_code == 200
    page = client.get("/api/v1/drift-report/html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"<html" in page.data[:2000].lower() and len(page.data) > 100_000


def test_empty_log_is_a_conflict_that_says_why(client: Any) -> None:
    response = client.get("/api/v1/drift-report?limit=100")
    assert response.status_code == 409
    assert "log is empty" in response.json["detail"] and response.json["min_samples"] == 30


@pytest.mark.parametrize("rows", [1, 5])
def test_few_samples_give_a_flagged_report(client: Any, rows: int) -> None:
    # The specification's walkthrough asks for a report after a handful of requests.
    client.post("/api/v1/classify", json={"samples": normal_samples(rows)})
    response = client.get("/api/v1/drift-report?limit=50")
    assert response.status_code == 200, response.json
    report = DriftReport.model_validate(response.json)
    assert report.data_summary.analyzed_samples == rows
    assert report.data_summary.sufficient_samples is False
    assert report.recommendations.retrain_model is False
    assert report.recommendations.note and "below 30" in report.recommendations.note


@pytest.mark.parametrize("limit", ["0", "-3", "10001", "ten"])
def test_limit_is_validated(client: Any, limit: str) -> None:
    response = client.get(f"/api/v1/drift-report?limit={limit}")
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "limit"


def test_shifted_classification_logs_only_the_shifted_copy(client: Any, app: Any) -> None:
    response = client.post("/api/v1/classify-shifted", json=SETOSA)
    assert response.status_code == 200
    body = ShiftedClassification.model_validate(response.json)
    assert body.drift_simulation.applied_shifts == {
        "sepal_length": "+1.5 units", "petal_width": "*1.3 multiplier"}
    applied = body.drift_simulation.shift_details
    assert set(applied) == {"sepal_length", "petal_width"}
    assert applied["sepal_length"].shifted == pytest.approx(6.6)
    assert applied["petal_width"].shifted == pytest.approx(0.26)
    plain = client.post("/api/v1/classify", json=SETOSA).json
    assert body.original_prediction.probabilities == plain["probabilities"]
    assert body.drift_simulation.confidence_change == pytest.approx(
        body.shifted_prediction.confidence - body.original_prediction.confidence, abs=1e-6)

    rows = PredictionLog(app.config["PREDICTION_LOG"]).read()
    shifted_rows = [row for row in rows if row["endpoint"] == "classify-shifted"]
    assert len(shifted_rows) == 1
    assert float(shifted_rows[0]["sepal_length"]) == pytest.approx(6.6)


def test_chosen_shift_can_change_the_prediction(client: Any) -> None:
    body = client.post("/api/v1/classify-shifted", json={
        **SETOSA, "shifts": {"petal_length": {"add": 3.5}, "petal_width": {"add": 1.2}}}).json
    assert body["original_prediction"]["predicted_class"] == "setosa"
    assert body["shifted_prediction"]["predicted_class"] != "setosa"
    assert body["drift_simulation"]["prediction_changed"] is True
    assert set(body["drift_simulation"]["applied_shifts"]) == {"petal_length", "petal_width"}


def test_shift_that_leaves_the_valid_range_is_clipped(client: Any, app: Any) -> None:
    response = client.post("/api/v1/classify-shifted", json={
        **SETOSA, "shifts": {"sepal_length": {"add": -6}, "petal_length": {"multiply": 5}}})
    assert response.status_code == 200
    applied = response.json["drift_simulation"]["shift_details"]
    assert response.json["drift_simulation"]["applied_shifts"] == {
        "sepal_length": "-6 units", "petal_length": "*5 multiplier"}
    assert applied["sepal_length"]["shifted"] == 0.01 and applied["sepal_length"]["clipped"]
    assert applied["petal_length"]["shifted"] == 7.0 and not applied["petal_length"]["clipped"]
    [row] = PredictionLog(app.config["PREDICTION_LOG"]).read()
    assert float(row["sepal_length"]) == 0.01


@pytest.mark.parametrize("shifts", [
    {"sepal_length": {"add": 11}},
    {"sepal_length": {"multiply": 0}},
    {"stem_length": {"add": 1}},
    {"sepal_length": {"divide": 2}},
])
def test_shift_bounds_are_validated(client: Any, shifts: dict[str, Any]) -> None:
    response = client.post("/api/v1/classify-shifted", json={**SETOSA, "shifts": shifts})
    assert response.status_code == 422
    assert response.json["errors"][0]["field"].startswith("shifts")


@pytest.mark.unit
@pytest.mark.parametrize(("share", "status"), [
    (0.0, "NO_DRIFT"), (0.2, "LOW_DRIFT"), (0.4, "MEDIUM_DRIFT"), (0.6, "HIGH_DRIFT"),
    (1.0, "HIGH_DRIFT")])
def test_monitoring_status_rules(share: float, status: str) -> None:
    from ai_backends.mlops.drift import monitoring_status

    assert monitoring_status(share) == status
