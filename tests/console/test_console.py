"""The console as a user meets it: it loads, stays on this server, works from the keyboard
and at phone width; the Classify and Health panels work and show errors readably."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import PHONE, save_panel_screenshot

pytestmark = pytest.mark.e2e


def test_console_loads_without_any_request_to_another_host(page: Any, open_panel: Any,
                                                           api_url: str) -> None:
    """Every request the page makes goes to the API's own origin (no CDN, no fonts)."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    open_panel(api_url, "classify")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.get_by_test_id("predicted-class")).to_have_text("setosa")
    for panel in ("generate", "chat", "semantic", "protocols", "monitoring", "registry", "health"):
        page.get_by_role("link", name=page.locator(f"#tabs a[href='#{panel}']").inner_text()).click()
        expect(page.locator(f"#{panel}")).to_be_visible()
    assert requested, "the page made no request at all"
    foreign = [url for url in requested if not url.startswith(api_url)]
    assert foreign == []


def test_classify_shows_class_confidence_chart_and_cache_badge(page: Any, open_panel: Any,
                                                               api_url: str) -> None:
    """Default measurements give setosa with a probability bar per class; a repeat is a HIT."""
    open_panel(api_url, "classify")
    page.get_by_role("button", name="Classify (REST)").click()
    card = page.get_by_test_id("prediction")
    expect(card.get_by_test_id("predicted-class")).to_have_text("setosa")
    expect(card).to_contain_text("confidence")
    expect(card).to_contain_text("cache MISS")
    expect(card.locator(".bars .track")).to_have_count(3)
    expect(card).to_contain_text("versicolor")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.get_by_test_id("prediction")).to_contain_text("cache HIT")
    page.get_by_label("Petal length (cm)").fill("5.8")
    page.get_by_label("Petal width (cm)").fill("2.2")
    page.get_by_label("Sepal length (cm)").fill("6.7")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.get_by_test_id("predicted-class")).to_have_text("virginica")
    save_panel_screenshot(page, "classify")


def test_classify_invalid_input_is_explained_next_to_the_field(page: Any, open_panel: Any,
                                                               api_url: str) -> None:
    """A negative or missing measurement is named at the field and nothing is sent."""
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    open_panel(api_url, "classify")
    page.get_by_label("Sepal width (cm)").fill("-1")
    page.get_by_label("Petal width (cm)").fill("")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.locator("#sepal_width-error")).to_have_text("Sepal width: must be at least 0.001")
    expect(page.locator("#petal_width-error")).to_have_text("Petal width: enter a number")
    expect(page.get_by_label("Sepal width (cm)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Sepal width (cm)")).to_be_focused()
    assert posted == []
    page.get_by_label("Sepal width (cm)").fill("3.0")
    page.get_by_label("Petal width (cm)").fill("0.2")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.get_by_test_id("predicted-class")).to_have_text("setosa")
    expect(page.locator("#sepal_width-error")).to_have_text("")


def test_classify_with_model_missing_shows_the_problem(page: Any, open_panel: Any,
                                                       start_api: Any, tmp_path: Any) -> None:
    """With no model on disk the API answers 503 and the console shows title and detail."""
    url = start_api(MODEL_DIR=str(tmp_path / "no-model-here"))
    open_panel(url, "classify")
    page.get_by_role("button", name="Classify (REST)").click()
    problem = page.locator("#classify-error")
    expect(problem).to_be_visible()
    expect(problem.locator("h4")).to_contain_text("503")
    expect(problem).to_contain_text("request id")
    expect(page.get_by_test_id("prediction")).to_have_count(0)


def test_health_lists_every_dependency_with_implementation_and_latency(
        page: Any, open_panel: Any, api_url: str) -> None:
    """Model and Redis are up, the sidecars (not started here) are down: degraded."""
    open_panel(api_url, "health")
    expect(page.get_by_test_id("health-status")).to_contain_text("DEGRADED")
    model = page.locator("tr[data-dependency='model']")
    expect(model).to_contain_text("UP")
    expect(model).to_contain_text("embedded (onnxruntime)")
    expect(model).to_contain_text(" ms")
    expect(page.locator("tr[data-dependency='redis']")).to_contain_text("UP")
    expect(page.locator("tr[data-dependency='grpc_sidecar']")).to_contain_text("DOWN")


def test_health_is_ok_when_every_dependency_runs(page: Any, open_panel: Any, start_api: Any,
                                                 sidecars: dict[str, str],
                                                 registry_uri: str) -> None:
    """With the sidecars and a registry up, every row is UP and the service OK."""
    open_panel(start_api(MLFLOW_TRACKING_URI=registry_uri, **sidecars), "health")
    expect(page.get_by_test_id("health-status")).to_contain_text("OK")
    rows = page.get_by_test_id("health-table").locator("tbody tr")
    expect(rows.filter(has_text="DOWN")).to_have_count(0)
    expect(rows.filter(has_text="UP")).to_have_count(rows.count())
    expect(page.locator("tr[data-dependency='mlflow']")).to_contain_text("embedded (SQLite)")
    save_panel_screenshot(page, "health")


def test_health_shows_redis_down_and_a_503_without_the_model(page: Any, open_panel: Any,
                                                             start_api: Any, tmp_path: Any) -> None:
    """A dead Redis is shown as DOWN; without the model the service reports UNAVAILABLE."""
    from tests.conftest import free_port

    url = start_api(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                    MODEL_DIR=str(tmp_path / "no-model-here"))
    open_panel(url, "health")
    expect(page.get_by_test_id("health-status")).to_contain_text("UNAVAILABLE")
    expect(page.locator("tr[data-dependency='redis']")).to_contain_text("DOWN")
    expect(page.locator("tr[data-dependency='redis']")).to_contain_text("unreachable")
    expect(page.locator("tr[data-dependency='model']")).to_contain_text("DOWN")
    expect(page.locator("#health-error")).to_be_hidden()


def test_keyboard_alone_reaches_a_panel_and_submits_a_form(page: Any, open_panel: Any,
                                                           api_url: str) -> None:
    """Tab to the Health link, Enter opens it with focus on its heading; Enter submits."""
    open_panel(api_url, "classify")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == "#health":
            break
    else:
        pytest.fail("Tab never reached the Health link")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Health")).to_be_focused()
    expect(page.get_by_test_id("health-status")).to_be_visible()
    page.get_by_role("link", name="Classify").click()
    page.get_by_label("Petal length (cm)").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("predicted-class")).to_have_text("setosa")


def test_phone_width_has_no_horizontal_scrolling(page: Any, open_panel: Any,
                                                 api_url: str) -> None:
    """At 390 px every panel fits the width: nothing to scroll sideways."""
    page.set_viewport_size(PHONE)
    open_panel(api_url, "classify")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.get_by_test_id("predicted-class")).to_have_text("setosa")
    for panel in ("classify", "generate", "chat", "semantic", "protocols", "monitoring",
                  "registry", "health"):
        page.evaluate(f"location.hash = '#{panel}'")
        expect(page.locator(f"#{panel}")).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{panel} is {overflow}px wider than the phone"
    page.evaluate("location.hash = '#classify'")
    save_panel_screenshot(page, "phone-classify")


def test_api_key_field_unlocks_an_api_that_requires_keys(page: Any, open_panel: Any,
                                                         start_api: Any) -> None:
    """Without a key the 401 says where to put it; with the key the same click works."""
    open_panel(start_api(API_KEYS=["s3cret-key"]), "classify")
    page.get_by_role("button", name="Classify (REST)").click()
    problem = page.locator("#classify-error")
    expect(problem.locator("h4")).to_contain_text("401")
    expect(problem).to_contain_text("Enter the API key")
    page.get_by_label("API key").fill("s3cret-key")
    page.get_by_label("API key").press("Tab")
    page.get_by_role("button", name="Classify (REST)").click()
    expect(page.get_by_test_id("predicted-class")).to_have_text("setosa")
    expect(problem).to_be_hidden()
