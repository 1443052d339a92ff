"""Canary tokens: a per-request secret in the system prompt that betrays a leaked prompt.

Each generation gets a marker (``XXXX-XXXX-XXXX``, 60 bits) written into the first line of
its system prompt: a fresh random one, except for requests meant to be reproducible (a seed,
or temperature 0), whose marker is an HMAC of the request under ``LLM_CANARY_SECRET`` so the
same request still gets the same answer on every worker. The marker means nothing to the
user's request, so an answer that contains it (or any run of ``MIN_PART`` of its
characters, whatever separators or case the model puts in between) has repeated the system
prompt: the answer is withheld with ``PromptLeak`` and counted in
``llm_system_prompt_leaks_total``.

Streams hold back the last ``HOLD_BACK`` characters until more text arrives, so a marker is
never sent in full before it is recognised; the marker opens the system prompt, so a model
that starts reciting its instructions is caught before the instructions themselves follow.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterator

from ai_backends.core import metrics
from ai_backends.core.errors import PromptLeak
from ai_backends.llm import Generation
from ai_backends.llm.prompts import CANARY_LINE

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes
MIN_PART = 8  # this many marker characters in a row count as a leak (chance: 32**-8)
HOLD_BACK = 40
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def new_canary() -> str:
    """A fresh random marker, e.g. ``QX7M-4RTK-9ZPB``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def canary_for(seed: int | None, temperature: float, context: str, secret: str) -> str:
    """The marker of one request: random, or derived from it when it must be reproducible."""
    if seed is None and temperature > 0:
        return new_canary()
    message = f"{seed}|{temperature}|{context}".encode()
    digest = hmac.new(secret.encode() or b"ai-backends-canary", message, hashlib.sha256).digest()
    raw = "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:12])
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def mark(system_prompt: str, canary: str) -> str:
    """The system prompt with the marker line in front."""
    return f"{CANARY_LINE.format(canary=canary)}\n{system_prompt}"


def leaked(text: str, canary: str) -> bool:
    """True when ``text`` holds the marker or a run of ``MIN_PART`` of its characters."""
    return _leak_check(canary)(text)


def _leak_check(canary: str) -> Callable[[str], bool]:
    """``leaked`` for one marker, its runs of ``MIN_PART`` characters computed once."""
    core = _NOT_ALNUM.sub("", canary.upper())
    parts = [core[i:i + MIN_PART] for i in range(len(core) - MIN_PART + 1)]

    def check(text: str) -> bool:
        seen = _NOT_ALNUM.sub("", text.upper())
        return any(part in seen for part in parts)

    return check


def watch(chunks: Iterator[str | Generation], canary: str, backend: str
          ) -> Iterator[str | Generation]:
    """Pass a generation stream through, withholding it at the first sign of the marker."""
    pending: list[str] = []
    try:
        yield from _watched(chunks, canary, backend, pending)
    except PromptLeak:
        raise
    except Exception:
        # The source failed (e.g. the backend died): what was held back passed the check, so
        # it still goes out before the error, as it would have without the hold-back.
        yield from pending
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _watched(chunks: Iterator[str | Generation], canary: str, backend: str,
             pending: list[str]) -> Iterator[str | Generation]:
    """The body of ``watch``; ``pending`` holds the pieces not sent yet."""
    text, held = "", 0  # held: characters in pending
    check, tail = _leak_check(canary), HOLD_BACK + len(canary)
    for item in chunks:
        if isinstance(item, Generation):
            if check(item.text) or check(text):
                _withhold(backend)
            while pending:
                yield pending.pop(0)
            yield item
            continue
        text += item
        pending.append(item)
        held += len(item)
        if check(text[-tail:]):
            _withhold(backend)
        # Send what lies more than HOLD_BACK characters before the end of the text.
        while pending and held - len(pending[0]) >= HOLD_BACK:
            held -= len(pending[0])
            yield pending.pop(0)
    while pending:
        yield pending.pop(0)


def _withhold(backend: str) -> None:
    metrics.LLM_PROMPT_LEAKS.labels(backend).inc()
    raise PromptLeak("the answer repeated the system prompt (its canary token), so it was "
                     "withheld; rephrase the request without asking for the instructions")
