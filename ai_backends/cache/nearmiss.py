"""The near-miss guard: vetoes a semantic-cache hit when two prompts ask different things.

Sentence embeddings place "What is the capital of France?" and "... of Germany?" close
together, and "Celsius to Fahrenheit" next to its reverse (0.995). A threshold cannot part
them, so a candidate above the threshold must also pass these cheap lexical checks:

- numbers: the numbers mentioned (digits, number words, roman numerals) must be the same;
- negation: both prompts negate, or neither does;
- named entities: capitalised names (France, Hamlet, AI) must not be swapped for others;
- direction: with "to/from/than/into/vs", the shared words must come in the same order;
- opposites: a word of one prompt and a word of the other must not be opposites (WordNet
  antonyms plus a few hand-added pairs, see ``opposites.py``: good/bad, best/worst,
  cheapest/most expensive, before/after, turn on/turn off);
- tense: one prompt must not ask about the past (was, did) where the other asks about the
  present or future (is, will, tomorrow);
- quantifiers and units: all/some/none/most/few, and units of measure (pounds/ounces,
  miles/kilometers), must not be swapped for others.

Every check looks only at the words that differ between the two prompts, so "Is coffee
good for you?" and "Is coffee good for your health?" share "good" and pass.

Each check can only turn a hit into a miss, so its mistakes cost a cache hit, never a wrong
answer. The entity check relies on capitalisation: all-lowercase prompts skip it.
"""

from __future__ import annotations

import re
from collections import Counter

from ai_backends.cache.opposites import opposite

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)([A-Za-z']+)")
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion first second third fourth fifth sixth "
    "seventh eighth ninth tenth half twice double triple".split()
)
# Roman numerals from II ("World War II"); a lone "I" is far more often the pronoun.
ROMAN_NUMERALS = frozenset("II III IV V VI VII VIII IX X XI XII XIII XIV XV XX".split())
NEGATIONS = frozenset(
    "not no never none nothing nobody neither nor without cannot cant dont doesnt didnt isnt "
    "arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt".split()
)
DIRECTION_WORDS = frozenset("to from into than vs versus before after in per".split())
STOPWORDS = frozenset(
    "a an the of in on at for to from by with about into than vs versus before after and or "
    "is are was were be been being do does did i me my you your we our it its this that these "
    "those what which who whom whose how why when where can could would should will shall may "
    "might must please tell explain give show there their they them he she his her as if so "
    "some any much many more most get s".split()
) | NUMBER_WORDS | NEGATIONS
# Capitalised words that are not names (question words, pronouns, interjections).
NOT_NAMES = STOPWORDS | frozenset("hi hello hey ok okay thanks yes".split())


# Tense: words of one prompt that clash with words of the other ("was" / "is", "did" /
# "will"); "did" / "is" does not clash ("What is the origin of X?" = "How did X start?").
TENSE_CLASHES = (
    (frozenset("was were".split()), frozenset("is are am will".split())),
    (frozenset(["did"]), frozenset("will do does".split())),
    (frozenset("yesterday ago last previous former".split()),
     frozenset("tomorrow next today now currently upcoming".split())),
)
QUANTIFIERS = frozenset(
    "all some none no any every each most few many several everyone anyone nobody someone "
    "everything anything nothing average median mean total majority minority".split())
_UNIT_WORDS = (
    "pound ounce gram kilogram kg lb oz ton tonne stone meter metre kilometer kilometre km "
    "centimeter centimetre cm millimeter millimetre mm mile foot feet inch yard liter litre "
    "milliliter ml gallon quart pint cup tablespoon teaspoon second minute hour day week "
    "month year decade century celsius fahrenheit kelvin calorie joule watt kilowatt volt "
    "dollar euro yen byte kilobyte megabyte gigabyte terabyte mph kph acre hectare percent")
UNITS = frozenset(_UNIT_WORDS.split()) | frozenset(w + "s" for w in _UNIT_WORDS.split())


def _unit(word: str) -> str:
    """A unit word in its singular form ("inches" -> "inch", "feet" -> "foot")."""
    if word == "feet":
        return "foot"
    for suffix in ("es", "s"):
        if word.endswith(suffix) and word[: -len(suffix)] in UNITS:
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    """Lower-case words; a possessive 's is dropped ("Perl's" -> "perl")."""
    return [re.sub(r"'s$", "", t.lower()).replace("'", "") for t in _TOKEN.findall(text)]


def numbers(text: str) -> set[str]:
    """Numbers mentioned in ``text``: digit strings (separators dropped) and number words."""
    found = set()
    for raw in _TOKEN.findall(text):
        word = raw.lower()
        if word[0].isdigit():
            found.add(word.replace(",", ""))
        elif raw in ROMAN_NUMERALS:
            found.add(raw)
        elif word in NUMBER_WORDS:
            found.add(word)
    return found


def negated(text: str) -> bool:
    """True when ``text`` contains a negation (not, never, don't, without, ...)."""
    lowered = text.lower()
    return "n't" in lowered or any(t in NEGATIONS for t in _tokens(text))


def entities(text: str) -> set[str]:
    """Likely names: capitalised or upper-case words that do not start a sentence."""
    starts = {m.group(1) for m in _SENTENCE_START.finditer(text)}
    found = set()
    for raw in _TOKEN.findall(text):
        word = re.sub(r"'s$", "", raw)
        if not word[0].isupper() or word.lower() in NOT_NAMES:
            continue
        if raw in starts and not word.isupper():
            continue
        found.add(word.lower())
    return found


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, in order (stopwords dropped)."""
    return [t for t in _tokens(text) if t not in STOPWORDS and not t[0].isdigit()]


def near_miss_reason(prompt: str, cached: str) -> str | None:
    """Why ``cached`` must not answer ``prompt`` although they embed close; None if it may."""
    if numbers(prompt) != numbers(cached):
        return "numbers differ"
    if negated(prompt) != negated(cached):
        return "negation differs"
    ours, theirs = entities(prompt), entities(cached)
    ours_words, theirs_words = set(_tokens(prompt)), set(_tokens(cached))
    # A name on each side that the other prompt does not mention at all: a substitution.
    if (ours - theirs_words) and (theirs - ours_words):
        return "named entities differ"
    if _reversed(prompt, cached):
        return "direction reversed"
    counts_ours, counts_theirs = Counter(_tokens(prompt)), Counter(_tokens(cached))
    only_ours = set(counts_ours - counts_theirs)
    only_theirs = set(counts_theirs - counts_ours)
    if not only_ours and not only_theirs:
        return None
    for word in only_ours:
        for other in only_theirs:
            if opposite(word, other):
                return f"opposite words ({word}/{other})"
    for past, later in TENSE_CLASHES:
        if (only_ours & past and only_theirs & later) or (only_theirs & past and only_ours & later):
            return "tense differs"
    if only_ours & QUANTIFIERS and only_theirs & QUANTIFIERS:
        return "quantifiers differ"
    units_ours = {_unit(w) for w in only_ours if w in UNITS}
    units_theirs = {_unit(w) for w in only_theirs if w in UNITS}
    if units_ours - units_theirs and units_theirs - units_ours:
        return "units differ"
    return None


def _reversed(a: str, b: str) -> bool:
    """True when both prompts say "X to Y"-like things with their shared words swapped."""
    tokens_a, tokens_b = _tokens(a), _tokens(b)
    if not (DIRECTION_WORDS & set(tokens_a) and DIRECTION_WORDS & set(tokens_b)):
        return False
    words_a = [_unit(w) for w in content_words(a)]  # "pounds" and "pound" are one word here
    words_b = [_unit(w) for w in content_words(b)]
    # Shared words that occur once on each side ("help me with this: ... help with" is no swap).
    once_a = {w for w, n in Counter(words_a).items() if n == 1}
    once_b = {w for w, n in Counter(words_b).items() if n == 1}
    shared = once_a & once_b
    order_a = [w for w in dict.fromkeys(words_a) if w in shared]
    order_b = [w for w in dict.fromkeys(words_b) if w in shared]
    position = {w: i for i, w in enumerate(order_b)}
    # Any pair of shared words in opposite order is a swap ("Celsius ... Fahrenheit").
    ranks = [position[w] for w in order_a]
    return any(ranks[i] > ranks[j] for i in range(len(ranks)) for j in range(i + 1, len(ranks)))
