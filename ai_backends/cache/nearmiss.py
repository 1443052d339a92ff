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

from ai_backends.cache.opposites import opposite, same_word, synonyms
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
    return re.sub(r"'s$", "", raw.lower()).replace("'", "")


def _tokens(text: str) -> list[str]:
    """Lower-case words ("Perl's" -> "perl", "don't" -> "dont", "two-factor" stays one)."""
    return [_word(t) for t in _TOKEN.findall(text)]


def numbers(text: str) -> set[str]:
    """Numbers mentioned in ``text``: digit strings (separators dropped) and number words."""
    found = set()
    for raw in _TOKEN.findall(text):
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
    for raw in _TOKEN.findall(text):
        if not raw[0].isupper() or _word(raw) in NOT_NAMES:
            continue
        if raw in starts and not raw.isupper():
            continue
        found.add(_word(raw))
    return found


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, in order (stopwords dropped)."""
    return [t for t in _tokens(text) if t not in STOPWORDS and not t[0].isdigit()]


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
    unmatched_ours = [w for w in dict.fromkeys(ours) if w not in STOPWORDS
                      and not any(same_word(w, o) for o in theirs)]
    if len(unmatched_ours) != 1:
        return None
    unmatched_theirs = [w for w in dict.fromkeys(theirs) if w not in STOPWORDS
                        and not any(same_word(w, o) for o in ours)]
    if len(unmatched_theirs) != 1:
        return None
    a, b = unmatched_ours[0], unmatched_theirs[0]
    rest_ours = Counter(_unit(w) for w in ours if w != a and w not in LOOSE_WORDS)
    rest_theirs = Counter(_unit(w) for w in theirs if w != b and w not in LOOSE_WORDS)
    if rest_ours != rest_theirs or synonyms(a, b):
        return None
    return a, b


# Words between two arguments that give them an order ("Celsius to Fahrenheit").
_DIRECTION_GROUP = {"to": "to", "into": "to", "than": "than", "vs": "vs", "versus": "vs",
                    "from": "from", "in": "in", "per": "per", "before": "before",
                    "after": "after"}


def _reversed(tokens_a: list[str], tokens_b: list[str]) -> bool:
    """True when two shared words stand on either side of the same direction word, swapped.

    "Celsius to Fahrenheit" / "Fahrenheit to Celsius" and "gold heavier than silver" / "silver
    heavier than gold" are reversed; "a list to a string in Python" / "In Python, ... a list
    into a string" is not: no direction word stands between "Python" and "list" in the second.
    """
    if not (_DIRECTION_GROUP.keys() & set(tokens_a) and _DIRECTION_GROUP.keys() & set(tokens_b)):
        return False
    # Content words that occur once on each side, at their positions ("pounds" = "pound").
    places_a, places_b = _places(tokens_a), _places(tokens_b)
    shared = sorted(places_a.keys() & places_b.keys(), key=places_a.__getitem__)
    for i, first in enumerate(shared):
        for second in shared[i + 1:]:
            if places_b[first] < places_b[second]:
                continue  # same order on both sides
            between_a = _directions(tokens_a[places_a[first] + 1:places_a[second]])
            between_b = _directions(tokens_b[places_b[second] + 1:places_b[first]])
            if between_a & between_b:
                return True
    return False


def _places(tokens: list[str]) -> dict[str, int]:
    """Position of each content word that occurs once (units in their singular form)."""
    words = [(_unit(t), i) for i, t in enumerate(tokens)
             if t not in STOPWORDS and not t[0].isdigit()]
    counts = Counter(w for w, _ in words)
    return {w: i for w, i in words if counts[w] == 1}


def _directions(tokens: list[str]) -> set[str]:
    """The direction groups of the direction words among ``tokens``."""
    return {_DIRECTION_GROUP[t] for t in tokens if t in _DIRECTION_GROUP}
