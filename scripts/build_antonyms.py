"""Extract single-word antonym pairs from WordNet 3.0 into ai_backends/cache/data/antonyms.tsv.

    apt-get install wordnet-base && python scripts/build_antonyms.py

Reads the lexical antonym pointers (``!``) of /usr/share/wordnet/data.{adj,adv,verb,noun}
and the adjective exception list (better -> good) so comparatives and superlatives map to
their base form's opposites.
"""

from ai_backends.core.config import ROOT

WORDNET = "/usr/share/wordnet"
OUT = ROOT / "ai_backends" / "cache" / "data" / "antonyms.tsv"
HEADER = """# Antonym pairs extracted from Princeton WordNet 3.0 by scripts/build_antonyms.py.
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
# word<TAB>opposite<TAB>part of speech
"""


def synsets(pos: str) -> dict[str, list[str]]:
    """offset -> words of the synset."""
    words: dict[str, list[str]] = {}
    lines = open(f"{WORDNET}/data.{pos}", encoding="utf-8").read().splitlines()
    for line in lines:
        if line.startswith("  "):
            continue
        parts = line.split(" ")
        count = int(parts[3], 16)
        words[parts[0]] = [parts[4 + 2 * i].split("(")[0].lower() for i in range(count)]
    return words


def main() -> None:
    """Write the pairs."""
    pairs: set[tuple[str, str, str]] = set()
    for pos in ("adj", "adv", "verb", "noun"):
        by_offset = synsets(pos)
        for line in open(f"{WORDNET}/data.{pos}", encoding="utf-8"):
            if line.startswith("  "):
                continue
            parts = line.split(" ")
            count = int(parts[3], 16)
            at = 4 + 2 * count
            pointers = int(parts[at])
            for i in range(pointers):
                symbol, offset, _tpos, st = parts[at + 1 + 4 * i: at + 5 + 4 * i]
                if symbol != "!":
                    continue
                source, target = int(st[:2], 16), int(st[2:], 16)
                a = by_offset[parts[0]][source - 1]
                b = by_offset[offset][target - 1]
                if "_" not in a and "_" not in b:
                    first, second = sorted((a, b))
                    pairs.add((first, second, pos))
    base_of: dict[str, list[str]] = {}
    for line in open(f"{WORDNET}/adj.exc", encoding="utf-8"):
        form, *bases = line.split()
        base_of[form] = bases
    by_word: dict[str, set[str]] = {}
    for a, b, _ in pairs:
        by_word.setdefault(a, set()).add(b)
        by_word.setdefault(b, set()).add(a)
    for form, bases in base_of.items():
        for base in bases:
            for other in by_word.get(base, ()):
                first, second = sorted((form, other))
                pairs.add((first, second, "adj-form"))
    with OUT.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for a, b, pos in sorted(pairs):
            handle.write(f"{a}\t{b}\t{pos}\n")
    print(f"{len(pairs)} pairs -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
