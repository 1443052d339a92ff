"""Request schemas accept what JSON allows and the document promises, nothing more."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ai_backends.chat.schemas import ChatRequest
from ai_backends.llm.schemas import GenerateRequest

pytestmark = pytest.mark.unit


def test_prompt_needs_a_non_whitespace_character() -> None:
    for blank in ["", "   \n\t"]:
        with pytest.raises(ValidationError):
            GenerateRequest(prompt=blank)
    assert ChatRequest(prompt=" hi ").prompt == " hi "


def test_lone_surrogates_are_replaced_not_fatal() -> None:
    assert GenerateRequest(prompt="\ud800 lone").prompt == "\ufffd lone"


@pytest.mark.parametrize("value, accepted", [(8, 8), (8.0, 8), (8.5, None), ("8", None),
                                             (True, None), (0, None)])
def test_max_tokens_takes_whole_numbers(value: object, accepted: int | None) -> None:
    if accepted is None:
        with pytest.raises(ValidationError):
            GenerateRequest(prompt="hi", max_tokens=value)
    else:
        assert GenerateRequest(prompt="hi", max_tokens=value).max_tokens == accepted


@pytest.mark.parametrize("blank", ["\u3000", "\u00a0", "\ufeff", "\u2028 \v"])
def test_blank_means_what_json_schema_means(blank: str) -> None:
    with pytest.raises(ValidationError):
        GenerateRequest(prompt=blank)


@pytest.mark.parametrize("text", ["\x1f", "\x1c", "\x85"])
def test_what_json_schema_calls_text_is_text(text: str) -> None:
    # Python's \s calls these whitespace; the document's pattern (ECMA-262) does not, so a
    # client that follows the document must not be refused.
    assert GenerateRequest(prompt=text).prompt == text
