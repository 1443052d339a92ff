"""Build the semantic-cache pair set: systematic pairs from a lexicon, plus hand-written ones.

    python scripts/build_semantic_set.py  # writes tests/data/judgments/semantic_{train,test}.csv

Questions: Python's FAQ (Debian ``python3-doc``), questions the embedded model wrote
(``generated_benign.jsonl``) and the cached prompts of the hand-written pairs.

- ``antonym_wordnet`` (must not hit): one content word of a question replaced by a WordNet
  antonym (only the WordNet part of ``ai_backends/cache/data/antonyms.tsv``, not the
  hand-added extras);
- ``paraphrase_rule`` (should hit): the question rewritten by fixed rules (politeness,
  "how do I" -> "how can I", "what is X" -> "explain X", case and punctuation);
- hand-written pairs (``semantic_handwritten.tsv``): paraphrases of several kinds and
  near misses of every kind (antonyms, comparatives, superlatives, quantifiers, tense,
  units, numbers, entities, negation, direction).

Pairs are split by a hash of the cached question, so a question and all its variants land
in the same split. ``test`` is frozen; ``train`` is for choosing thresholds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

from ai_backends.cache.nearmiss import STOPWORDS
from ai_backends.core.config import ROOT

OUT = ROOT / "tests" / "data" / "judgments"
LEXICON = ROOT / "ai_backends" / "cache" / "data" / "antonyms.tsv"
FAQ = Path("/usr/share/doc/python3-dev/html/_sources/faq")
TEST_SHARE = 0.5


def _hash(text: str) -> float:
    return int(hashlib.sha256(text.lower().encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def wordnet_antonyms() -> dict[str, list[str]]:
    """word -> its WordNet antonyms (base forms and adjective forms)."""
    found: dict[str, list[str]] = {}
    for line in LEXICON.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        a, b, _pos = line.split("\t")
        found.setdefault(a, []).append(b)
        found.setdefault(b, []).append(a)
    return found


def questions() -> list[tuple[str, str]]:
    """(source, question) from outside sources and the hand-written pairs."""
    found = []
    for path in sorted(FAQ.glob("*.rst.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for line, under in zip(lines, lines[1:], strict=False):
            if line.strip().endswith("?") and re.fullmatch(r"[-=~^\"]{3,}", under.strip()):
                found.append(("python_faq", line.strip().replace("``", "")))
    for line in (OUT / "generated_benign.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["kind"] == "question":
            for q in row["text"].splitlines():
                q = q.strip(" -*0123456789.")
                if q.endswith("?") and 15 < len(q) < 140:
                    found.append(("smollm2", q))
    with (OUT / "semantic_handwritten.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            found.append(("handwritten", row["cached"]))
    return list(dict.fromkeys(found))


def antonym_variants(question: str, lexicon: dict[str, list[str]]) -> list[str]:
    """The question with one content word replaced by its (first) WordNet antonym."""
    out = []
    for match in re.finditer(r"[A-Za-z]{3,}", question):
        word = match.group(0)
        lower = word.lower()
        if lower in STOPWORDS or lower not in lexicon:
            continue
        other = sorted(lexicon[lower])[0]
        if word[0].isupper():
            other = other.capitalize()
        out.append(question[:match.start()] + other + question[match.end():])
    return out


def paraphrase_variants(question: str) -> list[str]:
    """Rule-based rewrites that keep the meaning."""
    q = question.strip()
    body = q.rstrip("?").strip()
    out = [f"Quick question: {q}", f"{body.lower()}", f"Could you help me with this: {q}"]
    m = re.match(r"(?i)how do i (.+)", body)
    if m:
        out += [f"How can I {m.group(1)}?", f"Can you tell me how to {m.group(1)}?"]
    m = re.match(r"(?i)what is (.+)", body)
    if m:
        out += [f"Can you explain what {m.group(1)} is?", f"Explain {m.group(1)} to me."]
    m = re.match(r"(?i)why (is|are|does|do) (.+)", body)
    if m:
        out.append(f"Can you explain why {m.group(1).lower()} {m.group(2)}?")
    return out


def main() -> None:
    """Write both splits."""
    lexicon = wordnet_antonyms()
    rows: list[dict[str, str]] = []
    for source, q in questions():
        for variant in antonym_variants(q, lexicon)[:2]:
            rows.append({"cached": q, "asked": variant, "should_hit": "0",
                         "kind": "antonym_wordnet", "source": source})
        for i, variant in enumerate(paraphrase_variants(q)):
            if i % 2 == int(_hash(q) * 1000) % 2:  # every other rule, to keep kinds balanced
                rows.append({"cached": q, "asked": variant, "should_hit": "1",
                             "kind": "paraphrase_rule", "source": source})
    with (OUT / "semantic_handwritten.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            rows.append({**row, "source": "handwritten"})
    split: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    for row in rows:
        split["test" if _hash(row["cached"]) < TEST_SHARE else "train"].append(row)
    for name, items in split.items():
        path = OUT / f"semantic_{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, ["cached", "asked", "should_hit", "kind", "source"])
            writer.writeheader()
            writer.writerows(items)
        positives = sum(r["should_hit"] == "1" for r in items)
        generated = sum(r["source"] != "handwritten" or r["kind"].endswith("_rule")
                        or r["kind"] == "antonym_wordnet" for r in items)
        print(f"{path.relative_to(ROOT)}: {len(items)} pairs ({positives} should hit, "
              f"{len(items) - positives} must not; {generated} generated)")


if __name__ == "__main__":
    main()
