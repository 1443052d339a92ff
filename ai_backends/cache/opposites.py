"""Opposites and synonyms for the near-miss guard: WordNet lexicons plus rules for forms.

The lexicon (``data/antonyms.tsv``) is extracted from Princeton WordNet 3.0 (the Debian
``wordnet-base`` package; WordNet licence, attribution in the file header) by
``scripts/build_antonyms.py``: every lexical antonym pointer (``!``) between two single
words, of adjectives, adverbs, verbs and nouns, plus the comparative and superlative forms
of adjectives that WordNet lists as exceptions (better/best -> good). A few opposites that
WordNet does not link (sunrise/sunset, cheapest/most expensive are handled by rules) are added
by hand in ``EXTRA_OPPOSITES``.

Synonyms (``data/synonyms.tsv``, by ``scripts/build_synonyms.py``) are WordNet synsets of
common words: two words are synonyms when they share one ("fix" / "repair").
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

LEXICON = Path(__file__).with_name("data") / "antonyms.tsv"
SYNONYMS = Path(__file__).with_name("data") / "synonyms.tsv"

# Pairs WordNet does not link as antonyms but a question turns around (hand-written).
EXTRA_OPPOSITES = (
    ("sunrise", "sunset"), ("north", "south"), ("east", "west"), ("cheap", "expensive"),
    ("cheapest", "priciest"), ("pros", "cons"), ("advantages", "disadvantages"),
    ("benefits", "risks"), ("benefits", "drawbacks"), ("upload", "download"),
    ("import", "export"), ("encrypt", "decrypt"), ("encode", "decode"), ("login", "logout"),
    ("install", "uninstall"), ("enable", "disable"), ("min", "max"), ("minimum", "maximum"),
    ("first", "last"), ("inbound", "outbound"), ("input", "output"), ("legal", "illegal"),
    ("safe", "dangerous"), ("healthy", "unhealthy"), ("allowed", "forbidden"),
    ("allowed", "banned"), ("permitted", "prohibited"), ("raise", "lower"), ("rise", "fall"),
    ("buy", "sell"), ("before", "after"), ("win", "lose"), ("gain", "lose"), ("add", "remove"),
    ("start", "stop"), ("open", "close"), ("on", "off"), ("up", "down"), ("in", "out"),
    ("more", "less"), ("more", "fewer"), ("most", "least"), ("increase", "decrease"),
    ("increase", "reduce"), ("grow", "shrink"), ("hot", "cold"), ("warm", "cool"),
    ("summer", "winter"), ("spring", "autumn"), ("spring", "fall"), ("day", "night"),
    ("morning", "evening"), ("past", "future"), ("was", "will"), ("did", "will"),
    ("ancient", "modern"), ("male", "female"), ("men", "women"), ("boys", "girls"),
    ("left", "right"), ("top", "bottom"), ("inside", "outside"), ("above", "below"),
    ("over", "under"), ("pass", "fail"), ("accept", "reject"), ("borrow", "lend"),
    ("push", "pull"), ("send", "receive"), ("import", "export"), ("lock", "unlock"),
    ("mount", "unmount"), ("compress", "decompress"), ("zip", "unzip"), ("asleep", "awake"),
    ("sweet", "sour"), ("pounds", "ounces"), ("ascending", "descending"),
    ("easy", "hard"), ("close", "far"), ("closest", "farthest"), ("nearest", "farthest"),
)


@lru_cache(maxsize=1)
def antonym_pairs() -> frozenset[frozenset[str]]:
    """Every known pair of opposite words (lower case), from WordNet and the extras."""
    pairs = {frozenset(p) for p in EXTRA_OPPOSITES}
    with LEXICON.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            a, b = line.rstrip("\n").split("\t")[:2]
            pairs.add(frozenset((a, b)))
    return frozenset(p for p in pairs if len(p) == 2)


@lru_cache(maxsize=1)
def _index() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for pair in antonym_pairs():
        a, b = tuple(pair)
        found.setdefault(a, set()).add(b)
        found.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in found.items()}


def _forms(word: str) -> list[str]:
    """The word and crude base forms (plural, past, comparative, superlative)."""
    forms = [word]
    for suffix, repl in (("iest", "y"), ("ier", "y"), ("est", ""), ("est", "e"), ("er", ""),
                         ("er", "e"), ("ies", "y"), ("es", ""), ("s", ""), ("ed", ""),
                         ("ed", "e"), ("ing", ""), ("ing", "e"), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: len(word) - len(suffix)] + repl
            forms.append(base)
            if len(base) > 3 and base[-1] == base[-2]:  # bigger -> bigg -> big
                forms.append(base[:-1])
    return forms


PREFIXES = ("un", "in", "dis", "il", "im", "ir", "non")  # legal/illegal, like/dislike


def opposite(a: str, b: str) -> bool:
    """True when the two words (any case, simple inflections) are opposites."""
    return opposite_pair([a.lower()], [b.lower()]) is not None


def opposite_pair(words_a: Iterable[str], words_b: Iterable[str]) -> tuple[str, str] | None:
    """A word of ``words_a`` and a word of ``words_b`` (lower case) that are opposites.

    Linear in the number of words (each word's forms are looked up once), so long prompts
    cost no more than their length.
    """
    index = _index()
    by_form: dict[str, str] = {}
    plain_b = set()
    for b in sorted(set(words_b)):
        plain_b.add(b)
        for form in _forms(b):
            by_form.setdefault(form, b)
    for a in sorted(set(words_a)):
        for form in _forms(a):
            for other in sorted(index.get(form, frozenset()) & by_form.keys()):
                return a, by_form[other]
        for prefix in PREFIXES:  # "in" + "to" is no opposite of "to": 3 letters at least
            if len(a) >= 3 and prefix + a in plain_b:
                return a, prefix + a
            base = a[len(prefix):]
            if a.startswith(prefix) and len(base) >= 3 and base in plain_b:
                return a, base
    return None


@lru_cache(maxsize=1)
def _synsets() -> dict[str, frozenset[int]]:
    found: dict[str, set[int]] = {}
    with SYNONYMS.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if line.startswith("#") or not line.strip():
                continue
            for word in line.rstrip("\n").split("\t")[1].split():
                found.setdefault(word, set()).add(number)
    return {word: frozenset(sets) for word, sets in found.items()}


@lru_cache(maxsize=65536)
def word_forms(word: str) -> frozenset[str]:
    """The forms a lower-case word is compared by: itself, crude base forms, no hyphens."""
    return frozenset(_forms(word)) | frozenset(_forms(word.replace("-", "")))


def synonyms(a: str, b: str) -> bool:
    """True when two lower-case words (simple inflections) share a WordNet synset."""
    index = _synsets()
    sets_a: frozenset[int] = frozenset().union(*(index.get(f, frozenset()) for f in _forms(a)))
    return any(not sets_a.isdisjoint(index.get(f, frozenset())) for f in _forms(b))
