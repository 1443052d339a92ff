"""The text the semantic cache embeds: acronyms spelled out, request templates in one form.

MiniLM places "What is AI?" far from "Explain artificial intelligence to me" (cosine 0.74):
the acronym and the request template both move the vector. Before embedding, a prompt is
rewritten so that the same question reads the same way:

- acronyms from a hand-written lexicon (``data/acronyms.tsv``) are spelled out and kept in
  brackets: "What is AI?" -> "What is artificial intelligence (AI)?";
- a request for an explanation ("Explain X to me", "Tell me about X", "Can you describe
  X?", "What does X mean?") becomes "What is X?".

The near-miss guard compares the spelled-out texts too, so "UN" and "United Nations" are
one name to it. Only the embedded text changes; the prompt sent to the model, stored and
shown is the user's own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

LEXICON = Path(__file__).with_name("data") / "acronyms.tsv"

_ACRONYM = re.compile(r"\b([A-Z][A-Za-z]*[A-Z0-9]|[A-Z]{2,})(s?)\b")
_WH_WORDS = ("how ", "why ", "what ", "when ", "where ", "who ", "which ", "whether ", "if ")
_POLITE = r"(?:(?:can|could|would|will) you (?:please )?|please )?"
_EXPLAIN = re.compile(
    rf"^{_POLITE}(?:(?:explain|describe|tell me)\s+what|explain|describe|define"
    r"|tell me about|give me an overview of)\s+(?P<topic>.+?)"
    r"(?:\s+(?:is|are))?(?:\s+to me)?(?:,?\s+please)?\s*[?.!]*$",
    re.IGNORECASE)
_MEANING = re.compile(r"^what does\s+(?P<topic>.+?)\s+mean\s*[?.!]*$", re.IGNORECASE)


@lru_cache(maxsize=1)
def acronyms() -> dict[str, str]:
    """Acronym -> what it stands for, from the lexicon."""
    found = {}
    with LEXICON.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            short, long = line.rstrip("\n").split("\t")[:2]
            found[short] = long
    return found


def spell_out_acronyms(text: str) -> str:
    """``text`` with known acronyms spelled out ("AI" -> "artificial intelligence (AI)")."""
    if text.isupper():
        return text
    known = acronyms()
    lowered = text.lower()

    def expand(match: re.Match[str]) -> str:
        short, plural = match.group(1), match.group(2)
        long = known.get(short)
        if long is None or long.lower() in lowered:
            return match.group(0)
        return f"{long}{plural} ({short}{plural})"

    return _ACRONYM.sub(expand, text)


def canonical_request(text: str) -> str:
    """A request for an explanation of a topic as "What is <topic>?"; other text unchanged."""
    stripped = " ".join(text.split())
    for pattern in (_EXPLAIN, _MEANING):
        match = pattern.match(stripped)
        if match:
            topic = match.group("topic")
            if topic.lower().startswith(_WH_WORDS):
                return stripped
            return f"What is {topic}?"
    return stripped


def semantic_text(prompt: str) -> str:
    """The text embedded for ``prompt``: acronyms spelled out, explanation requests as one form."""
    return canonical_request(spell_out_acronyms(prompt))
