# ruff: noqa: E501  (regular expressions read better unwrapped)
"""Prompt-injection screening: sanitize a prompt, then score it with a classifier and patterns.

Two texts come out of one prompt:

* the **sanitized** text, which is what the model gets: Unicode NFKC, control and
  invisible characters removed, cut to the length limit;
* the **canonical** text, used only for matching: lower case, look-alike letters and
  leetspeak mapped to ASCII, separators inside spelled-out words removed, every run of
  whitespace (including line breaks) collapsed to one space.

Patterns belong to families; each match adds its weight to a pattern score (noisy-OR, so
several weak signals add up but never pass 1). The verdict comes from the screen in
``screen.py`` (a regression on sentence embeddings, the pattern families and hashed
n-grams, window by window); the patterns say which families matched. Pattern lists alone
generalize poorly to new phrasings. The numbers on the frozen evaluation set come from
``scripts/evaluate_injection.py`` (docs/judgments.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_backends.llm.screen import InjectionScreen

PATTERNS_ONLY_THRESHOLD = 0.5
WINDOW_EXCERPT = 400  # characters of the triggering window quoted (a whole window)

# Characters that render as nothing (zero-width space/joiners, word joiner, BOM, soft
# hyphen, bidi controls); NFKC keeps them, so they are removed explicitly.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufeff\uffa0\U000e0000-\U000e007f]"
)
# C0/C1 controls except tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Cyrillic and Greek letters that look like Latin ones (NFKC leaves them alone).
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "γ": "y",
})
# Digits and symbols used as letters; applied only to words that also hold letters, so
# "version 1.0" or "3 apples" stay as they are, and never to trailing punctuation.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "@": "a", "$": "s", "!": "i", "8": "b"})
# A whole word (run of non-spaces) holding a character _LEET maps: _unleet leaves every
# other word as it is, so only these are visited (anchored at the word's start: linear).
_LEET_CHARS = re.escape("".join(map(chr, _LEET)))
_LEETY_WORD = re.compile(rf"(?<!\S)[^\s{_LEET_CHARS}]*[{_LEET_CHARS}]\S*")
_TRAILING = re.compile(r"[!.,?;:)\]'\"]+$")
# "i.g.n.o.r.e", "i g n o r e", "i-g-n-o-r-e": three or more single letters joined by the
# same separator throughout (so "s-y-s-t-e-m p-r-o-m-p-t" stays two words).
_SPELLED = re.compile(r"\b[a-z]([.\-_* ])(?:[a-z]\1)+[a-z]\b")
# A word hyphenated across a line break: "ig-\nnore".
_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\n\s*(\w)")


@dataclass(frozen=True)
class Pattern:
    """One regular expression, the family it belongs to and how much it weighs."""

    family: str
    weight: float
    regex: re.Pattern[str]


def _p(family: str, weight: float, pattern: str) -> Pattern:
    return Pattern(family, weight, re.compile(pattern))


_IGNORE = r"(?:ignore|disregard|forget|never mind|nevermind|skip|override|overrule|bypass|neglect|discard|drop|abandon|set aside|throw out|stop following|do not follow|don'?t follow|pay no attention to)"
# Words that point at the instructions the model already has; "the" alone does not, so
# "a character says 'ignore the rules'" stays benign.
_STRONG = r"(?:previous|prior|preceding|above|earlier|initial|original|old|system|existing|former|current|default|all|any|every|your|developer'?s?|safety)"
_FILLER = r"(?:the|my|these|those|of|given|and)"
_RULES = r"(?:instructions?|rules|directions|directives|prompts?|guidelines|guidance|constraints|context|programming|orders|commands|restrictions|limitations|policies|policy|filters|guardrails|training|conditioning|messages?|text)"
# "the words above in the list I gave you" points at the user's own text, not ours.
_OWN = r"(?!.{0,40}\bi (?:gave|wrote|sent|listed|typed|pasted))"
# Names of the hidden instructions; generic ones ("initial instructions") only with "your".
_SECRET = rf"(?:system prompt|system message|system instructions?|hidden (?:prompt|instructions?|rules)|secret (?:prompt|instructions?)|(?:pre|meta)[- ]?prompt|developer (?:message|prompt|instructions?)|confidential instructions?|internal (?:prompt|instructions?|rules|guidelines)|your (?:\w+ ){{0,2}}(?:instructions|rules|prompt|guidelines|directives|configuration|system message)|the (?:text|words|instructions) (?:above|before){_OWN}|everything (?:above|before){_OWN}|what (?:was|is) written above)"
_REVEAL = r"(?:reveal|show|print|display|repeat|output|leak|dump|expose|disclose|recite|echo|return|paste|copy|write (?:out|down)|spell out|list|tell me|give me|share|provide|translate|summari[sz]e|quote)"

PATTERNS: tuple[Pattern, ...] = (
    # 1. Override: drop the instructions the model was given.
    _p("override_instructions", 0.9,
       rf"{_IGNORE} (?:{_FILLER} ){{0,2}}{_STRONG} (?:(?:{_STRONG}|{_FILLER}) ){{0,3}}{_RULES}"),
    _p("override_instructions", 0.45, rf"{_IGNORE} (?:{_FILLER} ){{1,2}}{_RULES}"),
    _p("override_instructions", 0.8,
       rf"{_IGNORE} (?:{_FILLER} )?{_RULES} (?:you were|you've been|you have been|you got) (?:given|told|trained)"),
    _p("override_instructions", 0.8,
       r"(?:ignore|disregard|forget) (?:everything|all|anything) (?:above|before|prior|so far|previously|up to here)"),
    _p("override_instructions", 0.7,
       r"(?:has|have|had) (?:updated|changed|replaced|revoked|disabled|removed|lifted) (?:your|the) (?:rules|instructions|guidelines|restrictions|policies|filters)"),
    _p("override_instructions", 0.7,
       r"you (?:must|will|shall) (?:now )?(?:obey|comply with|follow) (?:me|my|every|all|only)|obey (?:only )?me\b|do (?:whatever|anything|everything) i (?:say|tell|ask)"),
    _p("override_instructions", 0.9,
       rf"{_IGNORE} (?:everything|anything|all|what) (?:you were|you've been|you have been|i) (?:told|given|said)"),
    _p("override_instructions", 0.8,
       r"(?:new|updated|real|actual|revised) (?:instructions?|rules|directives|system prompt|task)\s*(?::|are\b|is\b|follow)"),
    _p("override_instructions", 0.6,
       r"(?:from now on|henceforth|starting now|for the rest of this conversation),? you (?:will|must|shall|are|have no|no longer)"),
    _p("override_instructions", 0.7,
       r"(?:instructions?|rules|prompt) (?:above|before) (?:are|is|were|was) (?:void|cancel+ed|obsolete|invalid|fake|wrong|revoked|no longer valid)"),
    _p("override_instructions", 0.7,
       r"(?:you are|you're) (?:no longer|not) (?:bound|restricted|limited) by"),
    _p("override_instructions", 0.5,
       r"(?:instead|rather),? (?:just )?(?:say|print|output|respond with|reply with|write) (?:only )?[\"'`]"),
    _p("override_instructions", 0.6,
       r"(?:admin|administrator|developer|root|sudo|god|maintenance|debug) (?:override|access|command)"),
    _p("override_instructions", 0.45,
       r"(?:admin|administrator|root|sudo|maintenance|debug) mode"),
    # 2. Reveal the system prompt.
    _p("reveal_system_prompt", 0.9,
       rf"{_REVEAL} (?:back |out |up )?(?:me |us )?(?:all |exactly |verbatim |word for word )?(?:of )?(?:the (?:text|contents?|wording|words) of )?(?:the |my |its )?(?:full |complete |entire |exact |original |hidden |secret |initial )?{_SECRET}"),
    _p("reveal_system_prompt", 0.8,
       r"(?:text|words|messages?|instructions) (?:appears?|is|are|came|comes|was written|were written) (?:before|above|prior to) (?:my|this|the) (?:first )?(?:message|question|prompt)"),
    _p("reveal_system_prompt", 0.7,
       r"(?:you were|you've been|you have been) (?:told|instructed|programmed|asked) (?:not to|never to) (?:tell|reveal|say|share|disclose)"),
    _p("reveal_system_prompt", 0.9,
       r"what (?:is|are|was|were) (?:your|the) (?:exact |full |original |hidden |secret |initial )?(?:system prompt|system message|instructions you were given|hidden instructions|initial instructions|rules you were given|prompt you were given)"),
    _p("reveal_system_prompt", 0.8,
       rf"(?:repeat|print|output|write|say) (?:the |all )?(?:words|text|everything|lines?|sentences?) (?:above|before this|before that|prior){_OWN}"),
    _p("reveal_system_prompt", 0.7,
       r"(?:starting|beginning|that (?:start|begin)s?) with [\"'`]?you are"),
    _p("reveal_system_prompt", 0.6,
       r"(?:how were you|what were you) (?:instructed|programmed|told|configured|prompted)"),
    # 3. Role play that removes the rules (DAN and friends).
    _p("role_play", 0.9, r"\bdan\b.{0,40}(?:do anything|jailbr|mode|no (?:rules|limits|restrictions))|do anything now"),
    _p("role_play", 0.9, r"\bjail ?break(?:ed|ing)?\b|\bdeveloper mode\b|\bgod mode\b|\bevil (?:mode|twin|ai|assistant|bot)\b"),
    _p("role_play", 0.8,
       r"(?:pretend|imagine|act|behave|roleplay|role-play|role play|play the role|respond|answer|you are now|you're now|from now on you are|become|simulate|switch to)\b.{0,60}\b(?:no|without|free (?:of|from)|zero|any|don'?t have|do not have|lack|bypass|ignore|unrestricted|unfiltered|uncensored|unlimited|unbound|unaligned|amoral|immoral)\b.{0,25}\b(?:rules|restrictions|limits|limitations|filters|filtering|censorship|guidelines|ethics|morals|boundaries|policies|policy|safety|content polic(?:y|ies)|restraints)"),
    _p("role_play", 0.8,
       r"\b(?:unrestricted|unfiltered|uncensored|unaligned|amoral|jailbroken|unchained|unlocked|rogue) (?:ai|assistant|model|chatbot|bot|version|mode|persona|character|llm|gpt)"),
    _p("role_play", 0.7,
       r"(?:stay|remain|keep) in character|never break character|don'?t break character|do not break character"),
    _p("role_play", 0.4,
       r"\b(?:you are|you're) (?:now|no longer) (?:a|an|the|my)?\b"),
    _p("role_play", 0.45,
       r"(?:pretend|imagine) (?:that )?(?:you are|you're|to be|you were)|(?:act|behave) as (?:if you were|though you were)"),
    _p("role_play", 0.6,
       r"(?:hypothetically|in a fictional world|for a (?:story|novel|movie)|in this fictional),? .{0,60}(?:no (?:rules|restrictions|laws|ethics)|anything is allowed|nothing is forbidden|rules don'?t apply)"),
    _p("role_play", 0.6,
       r"(?:opposite|reverse) mode|(?:two|2|both) (?:responses|answers)[^.]{0,40}(?:normal|classic|filtered).{0,40}(?:jailbr|unfiltered|dan|developer)"),
    _p("role_play", 0.5,
       r"(?:my (?:late |deceased |dead )?grand(?:ma|mother|pa|father)),? .{0,25}(?:used to|would) (?:read|tell|say|give)"),
    # 1b-3b. The same in German, French, Spanish, Italian, Portuguese and Dutch (canonical
    # text has no accents: "ignoriere alle vorherigen anweisungen", "regles", "instrucoes").
    _p("override_instructions", 0.9,
       r"\b(?:ignorier\w*|vergiss|missachte\w*|uberspring\w*|ignore[rz]?|oublie[rz]?|ignora[rn]?|olvida[rn]?|dimentica\w*|esquec\w*|negeer\w*|vergeet)\b.{0,40}\b(?:anweisung\w*|regeln|vorgaben|befehle|instructions?|regles|consignes|instrucciones|reglas|istruzioni|regole|instrucoes|regras|instructies|regels)\b"),
    _p("override_instructions", 0.7,
       r"\b(?:neue aufgabe|nouvelle (?:tache|instruction)|nueva (?:tarea|instruccion)|nuovo compito|nova tarefa|nieuwe (?:taak|instructie))\b|\bab jetzt (?:befolgst|gehorchst|bist) du\b"),
    _p("reveal_system_prompt", 0.9,
       r"\b(?:zeig\w*|gib|nenne|affiche\w*|montre\w*|revele\w*|repete\w*|muestra\w*|muestrame|revela\w*|repite\w*|mostra\w*|mostrami|rivela\w*|ripeti\w*|mostre|laat|toon|herhaal)\b.{0,40}\b(?:system ?prompt\w*|systemanweisung\w*|prompt (?:systeme|del sistema|di sistema|do sistema)|systeemprompt|(?:ursprunglichen|initiales?|originales|originali|originais|oorspronkelijke) (?:anweisungen|instructions|instrucciones|istruzioni|instrucoes|instructies))"),
    _p("role_play", 0.8,
       r"\b(?:ki|ia|ai|intelligence artificielle|inteligencia artificial)\b.{0,20}\b(?:ohne (?:einschrankungen|regeln|grenzen)|sans (?:aucune )?(?:restriction|regle|limite)s?|sin (?:restricciones|reglas|limites)|senza (?:alcuna )?(?:restrizion[ei]|regole|limiti)|sem (?:restricoes|regras|limites)|zonder (?:beperkingen|regels))"),
    _p("role_play", 0.7,
       r"\b(?:tu so,? als|fais comme si|haz como si|fai finta|finja|doe alsof)\b.{0,40}\b(?:keine regeln|pas de regles|sin reglas|senza regole|sem regras|geen regels)"),
    # 4. Fake delimiters: text that imitates the chat format's role markers.
    _p("fake_delimiter", 0.8,
       r"(?:^|\s)#{2,}\s*(?:system|assistant|instruction|instructions|admin|developer|new instructions|end of (?:user )?(?:input|prompt))\s*(?:prompt|message)?\s*(?::|#|$|\s(?=[a-z]))"),
    _p("fake_delimiter", 0.9,
       r"</?\s*(?:system|user|assistant|instructions?|admin|developer|sys|human|ai)\s*>"),
    _p("fake_delimiter", 0.9,
       r"<\s*\|\s*(?:im_start|im_end|system|user|assistant|endoftext|end|eot_id|start_header_id)\s*\|\s*>|\[/?\s*(?:inst|sys|system)\s*\]|<<\s*/?sys\s*>>"),
    _p("fake_delimiter", 0.8, r"[\"']role[\"']\s*:\s*[\"'](?:system|assistant|developer)"),
    _p("fake_delimiter", 0.7,
       r"(?:^|\s)(?:system|assistant|admin|developer)\s*(?:message|prompt|note|override)?\s*:\s*(?:you|ignore|new|from now|the user|disregard|reveal|override)"),
    _p("fake_delimiter", 0.7,
       r"(?:end|begin|start) (?:of )?(?:the )?(?:user (?:input|message|prompt)|system (?:prompt|message)|conversation|instructions)|-{3,}\s*(?:system|end|new instructions)"),
)


@dataclass(frozen=True)
class Analysis:
    """The result of screening one prompt."""

    sanitized_text: str
    injection_detected: bool
    detected_patterns: list[str] = field(default_factory=list)
    sanitized: bool = False
    original_length: int = 0
    sanitized_length: int = 0
    blocked: bool = False
    risk_score: float = 0.0
    # The riskiest window: start, end, excerpt, families, window_chars (the size of its cut).
    window: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``security_analysis`` member of a response (without the text itself)."""
        body = asdict(self)
        del body["sanitized_text"]
        return body


def sanitize(text: str, max_chars: int) -> str:
    """What the model may see: NFKC, no control or invisible characters, at most max_chars."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text[:max_chars]


def _unleet(match: re.Match[str]) -> str:
    """Read a word's digits and symbols as letters when the word also has letters."""
    word = match.group(0)
    if not re.search("[a-z]", word):
        return word
    core = _TRAILING.sub("", word)
    return core.translate(_LEET) + word[len(core):]


def canonical(text: str) -> str:
    """The form patterns are matched against (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", _INVISIBLE.sub("", text)).lower().translate(_CONFUSABLES)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    # Strip accents left after NFKC ("ìgnóre" -> "ignore"); ASCII has none.
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")
    text = _LEETY_WORD.sub(_unleet, text)
    text = _SPELLED.sub(lambda m: m.group(0).replace(m.group(1), ""), text)
    return re.sub(r"\s+", " ", text).strip()


def _obfuscation_signals(text: str) -> list[str]:
    """Evasion tricks that benign text rarely contains."""
    signals = []
    if _INVISIBLE.search(text):
        signals.append("invisible_characters")
    if re.search(r"[a-zA-Z][а-яёіїјѕԁα-ω]|[а-яёіїјѕԁα-ω][a-zA-Z]", text):
        signals.append("mixed_script_letters")
    return signals


def pattern_score(text: str) -> tuple[float, list[str]]:
    """Noisy-OR of the matched pattern weights, and the families and signals that matched."""
    form = canonical(text)
    families: dict[str, float] = {}
    for pattern in PATTERNS:
        if pattern.regex.search(form):
            families[pattern.family] = max(families.get(pattern.family, 0.0), pattern.weight)
    signals = _obfuscation_signals(text) if families else []
    # Obfuscation only raises the score of text that already matched something.
    remaining = 1.0
    for weight in list(families.values()) + [0.25] * len(signals):
        remaining *= 1.0 - weight
    return 1.0 - remaining, sorted(families) + signals


def analyze(text: str, max_chars: int, threshold: float | None = None,
            use_classifier: bool = True, screen: InjectionScreen | None = None) -> Analysis:
    """Sanitize ``text`` and judge it; ``blocked`` equals ``injection_detected``.

    The risk score is the screen's (``screen.py``): the probability of its riskiest window.
    ``detected_patterns`` names the pattern families found anywhere in the text, plus
    "classifier" when the screen flags it; ``window`` says which part of the text triggered
    it and which families matched there. With ``use_classifier=False`` the pattern score
    alone decides (for comparison).
    """
    clean = sanitize(text, max_chars)
    # Score the untruncated text: an attack must not hide past the cut.
    patterns, matched = pattern_score(text)
    window = None
    if use_classifier:
        from ai_backends.llm.screen import default_screen

        screen = screen or default_screen()
        verdict = screen.judge(text)
        score = verdict.risk
        detected = score >= (threshold if threshold is not None else screen.threshold)
        if detected:
            matched = [*matched, "classifier"]
        if verdict.window is not None:
            excerpt = text[verdict.window.start:verdict.window.end]
            window = {"start": verdict.window.start, "end": verdict.window.end,
                      "excerpt": excerpt[:WINDOW_EXCERPT],
                      "families": verdict.families, "window_chars": verdict.window.size}
    else:
        score = patterns
        detected = score >= (threshold if threshold is not None else PATTERNS_ONLY_THRESHOLD)
    return Analysis(
        sanitized_text=clean,
        injection_detected=detected,
        detected_patterns=matched,
        sanitized=clean != text,
        original_length=len(text),
        sanitized_length=len(clean),
        blocked=detected,
        risk_score=round(score, 3),
        window=window,
    )
