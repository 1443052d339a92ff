"""The near-miss guard: vetoes a semantic-cache hit when two prompts ask different things.

Sentence embeddings place "What is the capital of France?" and "... of Germany?" close
together, and "Celsius to Fahrenheit" next to its reverse (0.995). A threshold cannot part
them, so a candidate above the threshold must also pass these cheap lexical checks:

- numbers: the numbers mentioned (digits, number words, roman numerals) must be the same;
- negation: both prompts negate, or neither does;
- named entities: capitalised names (France, Hamlet, AI) must not be swapped for others;
- direction: two shared words on either side of the same direction word (to, than, in,
  vs ...) must not stand the other way round in the other prompt;
- opposites: a word of one prompt and a word of the other must not be opposites (WordNet
  antonyms plus a few hand-added pairs, see ``opposites.py``: good/bad, best/worst,
  cheapest/most expensive, before/after, turn on/turn off);
- tense: one prompt must not ask about the past (was, did) where the other asks about the
  present or future (is, will, tomorrow);
- quantifiers and units: all/some/none/most/few, and units of measure (pounds/ounces,
  miles/kilometers), must not be swapped for others;
- one word swapped: prompts that are the same but for one content word each ("Can dogs
  eat grapes?" / "Can cats eat grapes?") differ, unless the two words are WordNet
  near-synonyms (fix/repair, tall/high).

Both prompts are compared with their acronyms spelled out (``phrasing.py``), so "UN" and
"United Nations" are one name. Hyphenated words are one word ("black-and-white").

Every check looks only at the words that differ between the two prompts, so "Is coffee
good for you?" and "Is coffee good for your health?" share "good" and pass.

Each check can only turn a hit into a miss, so its mistakes cost a cache hit, never a wrong
answer. The entity check relies on capitalisation: all-lowercase prompts skip it (the
one-word-swap check still sees "dogs" / "cats").
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from functools import lru_cache

from ai_backends.cache.opposites import opposite_pair, synonyms, word_forms
from ai_backends.cache.phrasing import spell_out_acronyms

_TOKEN = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*|\d+(?:[.,]\d+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+)([A-Za-z]+(?:['-][A-Za-z]+)*)")
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
STOPWORDS = frozenset(
    "a an the of in on at for to from by with about into than vs versus before after and or "
    "is are was were be been being do does did i me my you your we our it its this that these "
    "those what which who whom whose how why when where can could would should will shall may "
    "might must please tell explain give show there their they them he she his her as if so "
    "some any much many more most get s".split()
) | NUMBER_WORDS | NEGATIONS
# Words a rewording adds or drops freely ("How do I" / "How can I", "a" / "the").
LOOSE_WORDS = frozenset(
    "a an the my your our their his her its do does did can could would should will please "
    "i me you we".split())
# Capitalised words that are not names (question words, pronouns, interjections).
NOT_NAMES = STOPWORDS | frozenset("hi hello hey ok okay thanks yes im ive id ill".split())
# Number words as digits, so "2" and "two" are one number.
DIGITS = {word: str(value) for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
    "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000"}


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


def _word(raw: str) -> str:
    """A token as compared: lower case, possessive 's and apostrophes dropped."""
    word = raw.lower()
    if word.endswith("'s"):
        word = word[:-2]
    return word.replace("'", "")


@lru_cache(maxsize=4096)
def _raw_tokens(text: str) -> tuple[str, ...]:
    """The tokens of ``text`` as written (cached: a cached prompt is compared many times)."""
    return tuple(_TOKEN.findall(text))


def _tokens(text: str) -> list[str]:
    """Lower-case words ("Perl's" -> "perl", "don't" -> "dont", "two-factor" stays one)."""
    return [_word(t) for t in _raw_tokens(text)]


def numbers(text: str) -> set[str]:
    """Numbers mentioned in ``text``: digit strings (separators dropped) and number words."""
    found = set()
    for raw in _raw_tokens(text):
        if raw[0].isdigit():
            found.add(raw.replace(",", ""))
        elif raw in ROMAN_NUMERALS:
            found.add(raw.lower())
        else:
            found |= {DIGITS.get(part, part) for part in raw.lower().split("-")
                      if part in NUMBER_WORDS}
    return found


def negated(text: str) -> bool:
    """True when ``text`` contains a negation (not, never, don't, without, ...)."""
    lowered = text.lower()
    return "n't" in lowered or any(t in NEGATIONS for t in _tokens(text))


def entities(text: str) -> set[str]:
    """Likely names: capitalised or upper-case words that do not start a sentence."""
    starts = {m.group(1) for m in _SENTENCE_START.finditer(text)}
    found = set()
    for raw in _raw_tokens(text):
        if not raw[0].isupper() or _word(raw) in NOT_NAMES:
            continue
        if raw in starts and not raw.isupper():
            continue
        found.add(_word(raw))
    return found


def near_miss_reason(prompt: str, cached: str) -> str | None:
    """Why ``cached`` must not answer ``prompt`` although they embed close; None if it may."""
    prompt, cached = spell_out_acronyms(prompt), spell_out_acronyms(cached)
    tokens_ours, tokens_theirs = _tokens(prompt), _tokens(cached)
    words_ours, words_theirs = set(tokens_ours), set(tokens_theirs)
    # A numeral in both texts in another case ("task X" / "task x") is the same word.
    if {n for n in numbers(prompt) ^ numbers(cached)
            if not (n in words_ours and n in words_theirs)}:
        return "numbers differ"
    if negated(prompt) != negated(cached):
        return "negation differs"
    ours, theirs = entities(prompt), entities(cached)
    # A name on each side that the other prompt does not mention at all: a substitution.
    if (ours - words_theirs) and (theirs - words_ours):
        return "named entities differ"
    if _reversed(tokens_ours, tokens_theirs):
        return "direction reversed"
    counts_ours, counts_theirs = Counter(tokens_ours), Counter(tokens_theirs)
    only_ours = set(counts_ours - counts_theirs)
    only_theirs = set(counts_theirs - counts_ours)
    if not only_ours and not only_theirs:
        return None
    opposites = opposite_pair(only_ours, only_theirs)
    if opposites:
        return f"opposite words ({opposites[0]}/{opposites[1]})"
    for past, later in TENSE_CLASHES:
        if (only_ours & past and only_theirs & later) or (only_theirs & past and only_ours & later):
            return "tense differs"
    if only_ours & QUANTIFIERS and only_theirs & QUANTIFIERS:
        return "quantifiers differ"
    units_ours = {_unit(w) for w in only_ours if w in UNITS}
    units_theirs = {_unit(w) for w in only_theirs if w in UNITS}
    if units_ours - units_theirs and units_theirs - units_ours:
        return "units differ"
    swapped = _swapped_word(tokens_ours, tokens_theirs)
    if swapped:
        return f"one word swapped ({swapped[0]}/{swapped[1]})"
    return None


def _swapped_word(ours: list[str], theirs: list[str]) -> tuple[str, str] | None:
    """The one word each prompt has in place of the other's, the rest being the same.

    "Can dogs eat grapes?" / "Can cats eat grapes?" -> (dogs, cats). Inflections are no
    difference ("dog" / "dogs"), nor are WordNet synonyms ("fix" / "repair"), and the rest
    must match word for word but for articles, possessives and auxiliaries ("How do I" /
    "How can I"), so a reworded question ("Who wrote X?" / "Who is the author of X?") is
    left alone.
    """
    # The rest must be the same: exactly one word of difference on each side.
    only_ours = Counter(_unit(w) for w in ours if w not in LOOSE_WORDS)
    only_theirs = Counter(_unit(w) for w in theirs if w not in LOOSE_WORDS)
    only_ours, only_theirs = only_ours - only_theirs, only_theirs - only_ours
    if sum(only_ours.values()) != 1 or sum(only_theirs.values()) != 1:
        return None
    (a,), (b,) = only_ours, only_theirs
    if a in STOPWORDS or b in STOPWORDS or a[0].isdigit() or b[0].isdigit():
        return None
    # An inflection of a word the other prompt has ("dog" / "dogs") is no swap.
    if any(not word_forms(a).isdisjoint(word_forms(w)) for w in set(theirs)) or any(
            not word_forms(b).isdisjoint(word_forms(w)) for w in set(ours)):
        return None
    return None if synonyms(a, b) else (a, b)


# Words between two arguments that give them an order ("Celsius to Fahrenheit").
_DIRECTION_GROUP = {"to": "to", "into": "to", "than": "than", "vs": "vs", "versus": "vs",
                    "from": "from", "in": "in", "per": "per", "before": "before",
                    "after": "after"}
DIRECTION_REACH = 6  # tokens on either side of a direction word where its arguments stand


def _reversed(tokens_a: list[str], tokens_b: list[str]) -> bool:
    """True when two shared words stand on either side of the same direction word, swapped.

    "Celsius to Fahrenheit" / "Fahrenheit to Celsius" and "gold heavier than silver" / "silver
    heavier than gold" are reversed; "a list to a string in Python" / "In Python, ... a list
    into a string" is not: no "in" stands between "Python" and "list" in the second. The
    words around a direction word are looked for within ``DIRECTION_REACH`` tokens, which
    keeps the check linear in the length of the prompts.
    """
    if not (_DIRECTION_GROUP.keys() & set(tokens_a) and _DIRECTION_GROUP.keys() & set(tokens_b)):
        return False
    # Content words that occur once on each side, at their positions ("pounds" = "pound").
    places_a, places_b = _places(tokens_a), _places(tokens_b)
    word_at = {i: w for w, i in places_a.items() if w in places_b}
    if len(word_at) < 2:
        return False
    # Where each group's direction words stand in ``tokens_b``.
    where_b: dict[str, list[int]] = {}
    for i, token in enumerate(tokens_b):
        if token in _DIRECTION_GROUP:
            where_b.setdefault(_DIRECTION_GROUP[token], []).append(i)
    for d, token in enumerate(tokens_a):
        if token not in _DIRECTION_GROUP:
            continue
        positions = where_b.get(_DIRECTION_GROUP[token], [])
        lefts = [word_at[i] for i in range(max(0, d - DIRECTION_REACH), d) if i in word_at]
        rights = [word_at[i] for i in range(d + 1, d + 1 + DIRECTION_REACH) if i in word_at]
        for left in lefts:
            for right in rights:
                first, second = places_b[right], places_b[left]
                # A direction word of the same group between them, in the other order.
                if first < second and bisect_right(positions, first) < bisect_left(positions,
                                                                                     second):
                    return True
    return False


def _places(tokens: list[str]) -> dict[str, int]:
    """Position of each content word that occurs once (units in their singular form)."""
    words = [(_unit(t), i) for i, t in enumerate(tokens)
             if t not in STOPWORDS and not t[0].isdigit()]
    counts = Counter(w for w, _ in words)
    return {w: i for w, i in words if counts[w] == 1}
