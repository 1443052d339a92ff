"""Chat and Semantic cache panels: real model, real Redis, real embeddings."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port

from .conftest import save_panel_screenshot

pytestmark = pytest.mark.e2e
EMBEDDED = {"LLM_BACKEND": "llamacpp", "LLM_TIMEOUT_SECONDS": 60.0}
SLOW = 120_000  # the embedded model takes seconds per answer on a busy 2-core machine


def _send(page: Any, message: str) -> None:
    page.locator("#chat").get_by_label("Max tokens").fill("8")
    page.get_by_label("Message").fill(message)
    page.get_by_role("button", name="Send").click()


def test_chat_keeps_history_reloads_it_and_forgets_it(page: Any, open_panel: Any,
                                                      start_api: Any) -> None:
    """Two turns build a history the server returns after a reload; Forget empties it."""
    url = start_api(**EMBEDDED)
    open_panel(url, "chat")
    _send(page, "Hello! My name is Ada.")
    history = page.locator("#chat-history li")
    expect(history).to_have_count(2)  # the answer bubble fills while tokens stream in
    expect(page.locator("#chat-stats")).to_contain_text("2 messages in memory", timeout=SLOW)
    session = page.get_by_label("Session id").input_value()
    assert session, "the server should have assigned a session id"
    _send(page, "What is my name?")
    expect(history).to_have_count(4)
    expect(page.locator("#chat-stats")).to_contain_text("4 messages in memory", timeout=SLOW)
    expect(history.last).not_to_be_empty()
    save_panel_screenshot(page, "chat")

    page.reload()  # a fresh page knows nothing until the history is loaded
    page.wait_for_selector("body[data-ready='true']")
    expect(history).to_have_count(0)
    page.get_by_label("Session id").fill(session)
    page.get_by_role("button", name="Load history").click()
    expect(history).to_have_count(4)
    expect(history.first).to_contain_text("My name is Ada")
    page.get_by_role("button", name="Forget session").click()
    expect(page.locator("#chat-stats")).to_contain_text("forgotten")
    page.get_by_role("button", name="Load history").click()
    expect(page.locator("#chat-error h4")).to_contain_text("404")
    page.get_by_role("button", name="New session").click()
    expect(page.get_by_label("Session id")).to_have_value("")
    expect(page.get_by_label("Message")).to_be_focused()


def test_chat_invalid_session_id_and_redis_down(page: Any, open_panel: Any,
                                                start_api: Any) -> None:
    """A malformed id is reported at the session field; without Redis chat is a 503."""
    open_panel(start_api(**EMBEDDED), "chat")
    page.get_by_label("Session id").fill("not a valid id!")
    _send(page, "Hi")
    expect(page.locator("#chat-error")).to_contain_text("422")
    expect(page.locator("#chat-session_id-error")).not_to_be_empty()
    expect(page.get_by_label("Session id")).to_have_attribute("aria-invalid", "true")

    open_panel(start_api(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", **EMBEDDED), "chat")
    _send(page, "Hi")
    expect(page.locator("#chat-error h4")).to_contain_text("503", timeout=SLOW)


def test_semantic_cache_miss_then_hit_on_a_paraphrase(page: Any, open_panel: Any,
                                                      start_api: Any) -> None:
    """A question misses; its paraphrase hits with a similarity and the matched prompt."""
    open_panel(start_api(**EMBEDDED), "semantic")
    page.get_by_role("button", name="Clear caches").click()
    expect(page.locator("#semantic-result")).to_contain_text("Caches cleared")
    page.locator("#semantic").get_by_label("Max tokens").fill("8")
    page.get_by_label("Question").fill("What is artificial intelligence?")
    page.get_by_role("button", name="Ask").click()
    answer = page.get_by_test_id("semantic-answer")
    expect(answer).to_contain_text("MISS", timeout=SLOW)
    page.get_by_label("Question").fill("What is AI?")
    page.get_by_role("button", name="Ask").click()
    expect(answer).to_contain_text("HIT", timeout=SLOW)
    result = page.locator("#semantic-result")
    expect(result).to_contain_text("What is artificial intelligence?")
    expect(result).to_contain_text("cosine")
    stats = page.get_by_test_id("cache-stats")
    semantic_hits = stats.locator(".card", has_text="near misses").locator("dd").first
    expect(semantic_hits).to_have_text("1")  # the stats refresh after every question
    save_panel_screenshot(page, "semantic-cache")


def test_semantic_cache_empty_question_and_redis_down(page: Any, open_panel: Any,
                                                      start_api: Any) -> None:
    """An empty question is refused at the field; a dead Redis shows in the stats area."""
    url = start_api(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", **EMBEDDED)
    open_panel(url, "semantic")
    expect(page.locator("#semantic-stats-error h4")).to_contain_text("503", timeout=SLOW)
    page.get_by_label("Question").fill("  ")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#semantic-prompt-error")).to_have_text("Question: enter some text")
