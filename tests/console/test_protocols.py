"""Classify through the sidecars and the REST-vs-gRPC benchmark, against the real sidecars."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port

from .conftest import save_panel_screenshot

pytestmark = pytest.mark.e2e


def test_classify_via_both_sidecars(page: Any, open_panel: Any, start_api: Any,
                                    sidecars: dict[str, str]) -> None:
    """The HTTP and gRPC buttons answer with the protocol and the measured round trip."""
    open_panel(start_api(**sidecars), "classify")
    page.get_by_role("button", name="Via HTTP sidecar").click()
    card = page.get_by_test_id("prediction")
    expect(card).to_contain_text("HTTP sidecar")
    expect(card.get_by_test_id("predicted-class")).to_have_text("setosa")
    expect(card).to_contain_text("processing time")
    expect(card).to_contain_text("protocolHTTP")  # the documented spelling, as the API sends it
    page.get_by_role("button", name="Via gRPC sidecar").click()
    expect(page.get_by_test_id("prediction")).to_contain_text("protocolgRPC")
    expect(page.get_by_test_id("predicted-class")).to_have_text("setosa")


def test_sidecar_down_is_a_readable_503(page: Any, open_panel: Any, start_api: Any) -> None:
    """No gRPC sidecar listening: the Classify panel shows the 503 problem, not a blank."""
    open_panel(start_api(GRPC_SIDECAR_TARGET=f"127.0.0.1:{free_port()}"), "classify")
    page.get_by_role("button", name="Via gRPC sidecar").click()
    problem = page.locator("#classify-error")
    expect(problem.locator("h4")).to_contain_text("503")
    expect(problem.locator(".detail")).not_to_be_empty()
    expect(page.get_by_test_id("prediction")).to_have_count(0)


def test_benchmark_table_and_latency_chart_for_both_protocols(
        page: Any, open_panel: Any, start_api: Any, sidecars: dict[str, str]) -> None:
    """A run with 30 iterations fills a row and a chart entry per protocol and a verdict."""
    open_panel(start_api(**sidecars), "protocols")
    page.get_by_label("Iterations (1-1000)").fill("30")
    page.get_by_role("button", name="Run benchmark").click()
    table = page.get_by_test_id("benchmark-table")
    expect(table).to_contain_text("HTTP (REST, JSON)")
    expect(table).to_contain_text("gRPC (protobuf)")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).not_to_contain_text("FAILED")
    expect(page.locator("#protocols-result svg.chart g")).to_have_count(2)
    expect(page.locator("#protocols-result")).to_contain_text("faster protocol")
    save_panel_screenshot(page, "protocols")


def test_benchmark_with_one_sidecar_down_names_the_failure(
        page: Any, open_panel: Any, start_api: Any, sidecars: dict[str, str]) -> None:
    """Out-of-range iterations are refused at the field; a dead gRPC sidecar is named."""
    url = start_api(HTTP_SIDECAR_URL=sidecars["HTTP_SIDECAR_URL"],
                    GRPC_SIDECAR_TARGET=f"127.0.0.1:{free_port()}")
    open_panel(url, "protocols")
    page.get_by_label("Iterations (1-1000)").fill("5000")
    page.get_by_role("button", name="Run benchmark").click()
    expect(page.locator("#protocols-iterations-error")).to_have_text(
        "Iterations: must be at most 1000")
    page.get_by_label("Iterations (1-1000)").fill("10")
    page.get_by_role("button", name="Run benchmark").click()
    table = page.get_by_test_id("benchmark-table")
    expect(table.locator("tr", has_text="gRPC")).to_contain_text("FAILED")
    expect(table.locator("tr", has_text="HTTP")).not_to_contain_text("FAILED")
