"""Monitoring and Registry panels against a real Evidently report and a real MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ai_backends.classify.training import train
from tests.conftest import free_port

from .conftest import save_panel_screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def monitored_url(start_api: Any, app_config: dict[str, Any], tmp_path: Path) -> str:
    """An API whose data folder holds the training reference that drift is measured against."""
    train(tmp_path / "models", Path(app_config["DATA_DIR"]))
    return str(start_api())


def test_shifted_button_shows_both_answers_and_the_applied_shifts(
        page: Any, open_panel: Any, api_url: str) -> None:
    """The drift simulation shows original and shifted answers and what was shifted."""
    open_panel(api_url, "classify")
    page.get_by_role("button", name="Shifted (drift simulation)").click()
    expect(page.get_by_test_id("prediction")).to_have_count(2)
    simulation = page.get_by_test_id("drift-simulation")
    expect(simulation).to_contain_text("sepal length")
    expect(simulation).to_contain_text("5.1 → 6.6 cm (+1.5)")
    expect(simulation).to_contain_text("confidence change")


def test_drift_report_flags_the_shifted_features_and_links_the_html(
        page: Any, open_panel: Any, monitored_url: str) -> None:
    """After shifted traffic the report shows drift on sepal length, a status, and the page."""
    open_panel(monitored_url, "monitoring")
    page.get_by_label("Flowers (1-200)").fill("50")
    page.get_by_role("button", name="Send shifted traffic").click()
    expect(page.locator("#traffic-progress")).to_have_text(
        "50 of 50 shifted flowers classified and logged", timeout=60_000)
    page.get_by_label("Last N predictions").fill("50")
    page.get_by_role("button", name="Run drift report").click()
    status = page.get_by_test_id("drift-status")
    expect(status).to_contain_text("drift detected", timeout=60_000)
    expect(status.locator(".badge")).not_to_have_text("NO_DRIFT")
    table = page.get_by_test_id("drift-table")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("tr", has_text="sepal_length")).to_contain_text("DRIFT")
    expect(page.get_by_test_id("prediction-drift")).to_contain_text("(training)")
    save_panel_screenshot(page, "monitoring")
    with page.expect_popup() as popup:
        page.get_by_test_id("drift-html-link").click()
    report = popup.value
    report.wait_for_load_state()
    assert report.url.endswith("/api/v1/drift-report/html")
    expect(report.locator("body")).to_contain_text("Drift")
    report.close()


def test_drift_report_with_too_few_samples_explains_why(page: Any, open_panel: Any,
                                                        monitored_url: str) -> None:
    """A limit of 0 is refused at the field; 5 logged flowers give a report flagged with
    the API's note that so few rows cannot be trusted."""
    open_panel(monitored_url, "monitoring")
    page.get_by_label("Last N predictions").fill("0")
    page.get_by_role("button", name="Run drift report").click()
    expect(page.locator("#monitoring-limit-error")).to_have_text("Limit: must be at least 1")
    page.get_by_label("Flowers (1-200)").fill("5")
    page.get_by_role("button", name="Send normal traffic").click()
    expect(page.locator("#traffic-progress")).to_have_text(
        "5 of 5 normal flowers classified and logged")
    page.get_by_label("Last N predictions").fill("100")
    page.get_by_role("button", name="Run drift report").click()
    expect(page.get_by_test_id("drift-note")).to_contain_text("only 5 classifications",
                                                              timeout=60_000)
    expect(page.get_by_test_id("drift-table")).to_have_count(1)


def test_registry_lists_versions_and_classifies_with_production(
        page: Any, open_panel: Any, start_api: Any, registry_uri: str) -> None:
    """Both models with two versions each; production points at v1 and answers."""
    open_panel(start_api(MLFLOW_TRACKING_URI=registry_uri), "registry")
    models = page.get_by_test_id("registry-model")
    expect(models).to_have_count(2, timeout=60_000)
    onnx = models.filter(has_text="iris-classifier-onnx")
    expect(onnx).to_contain_text("production → v1")
    expect(onnx.locator("tbody tr")).to_have_count(2)
    expect(onnx.locator("tr[data-version='1']")).to_contain_text("production")
    page.get_by_role("button", name="Classify via registry").click()
    result = page.locator("#registry-classify-result")
    expect(result.get_by_test_id("predicted-class")).to_have_text("setosa", timeout=60_000)
    expect(result).to_contain_text("iris-classifier-onnx")
    save_panel_screenshot(page, "registry")
    page.get_by_label("Alias").fill("no-such-alias")
    page.get_by_role("button", name="Classify via registry").click()
    expect(page.locator("#registry-classify-error h4")).to_contain_text("404")


def test_registry_down_is_a_readable_503(page: Any, open_panel: Any, start_api: Any) -> None:
    """An MLflow server that does not answer: the panel shows the 503 problem and why."""
    open_panel(start_api(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}"), "registry")
    page.get_by_role("button", name="Load models").click()
    problem = page.locator("#registry-error")
    expect(problem.locator("h4")).to_contain_text("503", timeout=60_000)
    expect(problem).to_contain_text("unavailable")
