"""Extract WordNet 3.0 near-synonyms of common words into ai_backends/cache/data/synonyms.tsv.

    apt-get install wordnet-base && python scripts/build_synonyms.py

A line is one synset with the words it points to as near-synonyms: for adjectives the
"similar to" (``&``) and "also see" (``^``) synsets (tall / high), for verbs the direct
hypernym (brew / make). Only single words (no multi-word lemmas) that occur in WordNet's
sense-tagged corpus (``tagsense_cnt`` > 0 in ``index.<pos>``) are kept; a line needs two.
The near-miss guard uses it to tell a synonym swap ("fix" / "repair") from a substitution
that changes the question ("dogs" / "cats").
"""

from build_antonyms import WORDNET, synsets  # the same WordNet data files and parser

from ai_backends.core.config import ROOT

OUT = ROOT / "ai_backends" / "cache" / "data" / "synonyms.tsv"
HEADER = """# Synonym sets extracted from Princeton WordNet 3.0 by scripts/build_synonyms.py.
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Permission to
# use, copy, modify and distribute this software and database and its documentation for
# any purpose and without fee or royalty is hereby granted, provided that you agree to
# comply with the following copyright notice and statements, including the disclaimer,
# and that the same appear on ALL copies of the software, database and documentation,
# including modifications that you make for internal use or for distribution.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. The name of Princeton University or
# Princeton may not be used in advertising or publicity pertaining to distribution of the
# software and/or database.
# part of speech<TAB>words of one synset and of its near-synonym synsets, separated by spaces
"""
POS = ("adj", "adv", "verb", "noun")
NEAR = {"adj": ("&", "^"), "verb": ("@",)}  # pointers to near-synonym synsets


def tagged_lemmas(pos: str) -> set[str]:
    """Lemmas of ``pos`` with at least one sense seen in the sense-tagged corpus."""
    found = set()
    for line in open(f"{WORDNET}/index.{pos}", encoding="utf-8"):
        if line.startswith("  "):
            continue
        parts = line.split()
        pointers = int(parts[3])
        if int(parts[5 + pointers]) > 0:
            found.add(parts[0])
    return found


def main() -> None:
    """Write the synsets."""
    rows: set[tuple[str, str]] = set()
    for pos in POS:
        common = tagged_lemmas(pos)
        by_offset = synsets(pos)
        for line in open(f"{WORDNET}/data.{pos}", encoding="utf-8"):
            if line.startswith("  "):
                continue
            parts = line.split(" ")
            words = set(by_offset[parts[0]])
            at = 4 + 2 * int(parts[3], 16)
            for i in range(int(parts[at])):
                symbol, offset, target_pos = parts[at + 1 + 4 * i: at + 4 + 4 * i]
                if target_pos == {"adj": "a", "verb": "v"}.get(pos) or (
                        pos == "adj" and target_pos == "s"):
                    if symbol in NEAR.get(pos, ()):
                        words |= set(by_offset[offset])
            kept = sorted(w for w in words if "_" not in w and w in common)
            if len(kept) >= 2:
                rows.add((pos, " ".join(kept)))
    with OUT.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for pos, members in sorted(rows):
            handle.write(f"{pos}\t{members}\n")
    print(f"{len(rows)} synsets -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
