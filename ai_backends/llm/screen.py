"""The injection screen: logistic regressions on sentence embeddings, window by window.

A prompt is cut twice into windows of whole sentences: at most ``WINDOW_CHARS`` (400) and at
most ``SHORT_WINDOW_CHARS`` (160) characters each; a longer sentence is cut into pieces that
overlap by half, and the inside of each HTML comment is cut again on its own. Each window's
canonical form (see ``injection.canonical``) is embedded with all-MiniLM-L6-v2 (the semantic
cache's model) and scored by the logistic regression of its window size, whose inputs are
the 384 embedding dimensions, one input per pattern family (the weight of the strongest
pattern of that family that matches the window) and the window's character 3-5-grams, hashed
into ``HASH_FEATURES`` buckets (no vocabulary to ship; the n-grams catch wording in
languages the English embedding model reads poorly). Each regression has its own threshold;
the 160-character risks are shifted (in logits) so that theirs lands on the 400-character
one, and the prompt's risk is its riskiest window of either size. The screen names that
window, its size and the pattern families found in it, so a refusal says where and why.

Embedding is nearly all of the cost (~0.5 s of CPU for 2 KB of text here), so in a prompt
longer than ``GATED_FROM_CHARS`` every window first meets its size's gate: the same kind of
regression on the window's static embedding (``Embedder.embed_static``: the mean of MiniLM's
vectors of its tokens, no model run). Only the windows a gate cannot clear are embedded; a
cleared window keeps the gate's risk, which is under the screen's threshold by construction.

Scoring windows, not the whole prompt, keeps an instruction hidden in a long pasted document
from being averaged away, and keeps one odd sentence of a book from tipping a long passage.
Short windows find the one hostile sentence in a document; long windows keep more of a long
jailbreak together (docs/judgments.md). The weights, the thresholds and how they were chosen
live in ``data/injection_screen.npz`` (about 0.8 MB), written by
``scripts/train_injection_screen.py`` from the committed training split only; a file with
one regression (one window size), or without gates, is read as well.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ai_backends.core import metrics
from ai_backends.llm.injection import PATTERNS, canonical

SCREEN_MODEL = Path(__file__).with_name("data") / "injection_screen.npz"
WINDOW_CHARS = 400
SHORT_WINDOW_CHARS = 160
HASH_FEATURES = 2**16
DIMENSIONS = 384  # of the embeddings, static or not
# Shorter prompts skip the gates: their few windows cost the model little, and the gates
# cost detection (docs/judgments.md).
GATED_FROM_CHARS = WINDOW_CHARS
FAMILIES = tuple(sorted({p.family for p in PATTERNS}))
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")
_HTML_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)", re.S)  # an unclosed one runs to the end


class TextEmbedder(Protocol):
    """Anything that embeds texts into unit vectors (the cache's ``Embedder``)."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Rows of unit length, one per text."""
        ...

    def embed_static(self, texts: list[str]) -> np.ndarray:
        """Static embeddings (mean token vectors), rows of unit length, one per text."""
        ...


@dataclass(frozen=True)
class Window:
    """A span of the prompt scored on its own."""

    start: int
    end: int
    size: int = WINDOW_CHARS  # the window size of the cut it belongs to


def windows(text: str, size: int = WINDOW_CHARS) -> list[Window]:
    """Consecutive spans of whole sentences, each at most ``size`` characters; a longer
    sentence is cut into pieces of ``size`` that overlap by half, so that an instruction
    spliced into the middle of a sentence lies mostly within one piece. The inside of each
    HTML comment (text a reader of the rendered page never sees) is cut the same way again,
    on its own, so that an instruction hidden there is not diluted by the page around it."""
    spans = sentence_windows(text, size)
    for comment in _HTML_COMMENT.finditer(text):
        if text[comment.start(1):comment.end(1)].strip():
            spans += sentence_windows(text, size, comment.start(1), comment.end(1))
    return spans


def sentence_windows(text: str, size: int = WINDOW_CHARS, begin: int = 0,
                     end: int | None = None) -> list[Window]:
    """``windows`` of ``text[begin:end]`` (spans of ``text``) without the HTML comments' own:
    the windows the regressions are trained on (``scripts/train_injection_screen.py``)."""
    end = len(text) if end is None else end
    spans: list[Window] = []
    start = begin
    cuts = [m.end() for m in _SENTENCE_END.finditer(text, begin, end)] + [end]
    current_start, current_end = begin, begin
    for cut in cuts:
        if cut - current_start > size and current_end > current_start:
            spans.append(Window(current_start, current_end, size))
            current_start = current_end
        while cut - current_start > size:  # one sentence longer than a window
            spans.append(Window(current_start, current_start + size, size))
            current_start += size // 2
        current_end = cut
        start = cut
    if current_end > current_start or not spans:
        spans.append(Window(current_start, max(current_end, start), size))
    return [w for w in spans if text[w.start:w.end].strip()] or [Window(begin, end, size)]


def pattern_features(text: str, form: str | None = None) -> np.ndarray:
    """Per family, the weight of its strongest pattern that matches ``text`` (else 0);
    ``form`` is its canonical form when already computed."""
    form = canonical(text) if form is None else form
    weights = dict.fromkeys(FAMILIES, 0.0)
    for pattern in PATTERNS:
        if weights[pattern.family] < pattern.weight and pattern.regex.search(form):
            weights[pattern.family] = pattern.weight
    return np.array([weights[f] for f in FAMILIES], dtype=np.float32)


def char_ngrams(form: str) -> list[str]:
    """The character 3-5-grams of each word of ``form``, padded with a space on each side
    (scikit-learn's ``char_wb`` analyzer: a word no longer than n gives itself, once)."""
    grams: list[str] = []
    for word in form.lower().split():
        padded = f" {word} "
        for n in range(3, 6):
            grams.extend(padded[i:i + n] for i in range(max(1, len(padded) - n + 1)))
            if len(padded) <= n:
                break
    return grams


def hashed_ngrams(form: str) -> tuple[np.ndarray, np.ndarray]:
    """The buckets of ``form``'s n-grams (signed 32-bit MurmurHash3, modulo
    ``HASH_FEATURES``) and their counts scaled to unit length: what scikit-learn's
    ``HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), alternate_sign=False)`` gives,
    without loading scikit-learn (130 MB) in each API worker."""
    words = form.lower().split()
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    buckets, counts = np.unique(np.concatenate(
        [_known_word_buckets(word) if len(word) <= _KEPT_WORD_CHARS else _word_buckets(word)
         for word in words]), return_counts=True)
    values = counts.astype(np.float64)
    return buckets.astype(np.int64), values / max(float(np.sqrt(values @ values)), 1e-12)


def _word_buckets(word: str) -> np.ndarray:
    """The buckets of one word's n-grams (``char_ngrams`` of the word alone)."""
    import mmh3

    return np.array([abs(mmh3.hash(gram.encode(), 0)) % HASH_FEATURES
                     for gram in char_ngrams(word)], dtype=np.int32)


# A word's buckets are kept, so a word is hashed once, not once per window and window size:
# the last 4,096 words of up to 64 characters (under 4 MB; typically under 1 MB).
_KEPT_WORD_CHARS = 64


@lru_cache(maxsize=4096)
def _known_word_buckets(word: str) -> np.ndarray:
    """``_word_buckets``, kept; read-only, as every caller shares it."""
    buckets = _word_buckets(word)
    buckets.setflags(write=False)
    return buckets


@dataclass(frozen=True)
class CheapInputs:
    """The inputs of each window that cost no model run: pattern weights and hashed n-grams
    (a sparse row of ``HASH_FEATURES`` kept as buckets and values)."""

    patterns: np.ndarray  # (windows, families)
    ngrams: list[tuple[np.ndarray, np.ndarray]]

    def dot(self, coef: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """For each window (of ``rows``), its inputs times ``coef``: the pattern weights'
        coefficients, then the n-gram buckets'."""
        rows = np.arange(len(self.ngrams)) if rows is None else rows
        grams = coef[len(FAMILIES):]
        return self.patterns[rows] @ coef[:len(FAMILIES)] + np.array(
            [grams[self.ngrams[r][0]] @ self.ngrams[r][1] for r in rows], dtype=np.float64)

    def matrix(self) -> Any:
        """The same inputs as one sparse matrix (for training)."""
        from scipy.sparse import csr_matrix, hstack

        indptr = np.cumsum([0] + [len(buckets) for buckets, _ in self.ngrams])
        grams = csr_matrix((np.concatenate([v for _, v in self.ngrams] or [np.zeros(0)]),
                            np.concatenate([b for b, _ in self.ngrams] or [np.zeros(0, int)]),
                            indptr), shape=(len(self.ngrams), HASH_FEATURES))
        return hstack([csr_matrix(self.patterns), grams]).tocsr()


def cheap_inputs(texts: list[str], forms: list[str] | None = None) -> CheapInputs:
    """The pattern and hashed n-gram inputs of each window text; ``forms`` are the texts'
    canonical forms when already computed."""
    forms = forms if forms is not None else [canonical(t) or " " for t in texts]
    patterns = np.stack([pattern_features(t, f) for t, f in zip(texts, forms, strict=True)]) \
        if texts else np.zeros((0, len(FAMILIES)), dtype=np.float32)
    return CheapInputs(patterns, [hashed_ngrams(form) for form in forms])


def window_features(texts: list[str], embedder: TextEmbedder,
                    vectors: np.ndarray | None = None) -> Any:
    """Embedding, pattern and hashed n-gram inputs for each window text (a sparse matrix,
    for training); ``vectors`` are the windows' embeddings (MiniLM's, or the static ones of
    the gate) when already computed."""
    from scipy.sparse import csr_matrix, hstack

    forms = [canonical(t) or " " for t in texts]
    if vectors is None:
        vectors = embedder.embed(forms)
    return hstack([csr_matrix(vectors.astype(np.float32)),
                   cheap_inputs(texts, forms).matrix()]).tocsr()


@dataclass(frozen=True)
class Gate:
    """The first stage of a window size: a regression on the window's static embedding
    (``Embedder.embed_static``), patterns and n-grams; below ``threshold`` the window is
    cleared without running the model."""

    coef: np.ndarray
    intercept: float
    threshold: float


@dataclass(frozen=True)
class Part:
    """One regression of the screen: the window size it scores, its weights and its gate."""

    window_chars: int
    coef: np.ndarray
    intercept: float
    shift: float  # added to its logits: puts its own threshold on the screen's
    gate: Gate | None = None


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _parts(stored: dict[str, Any], meta: dict[str, Any]) -> list[Part]:
    """The regressions in a weights file: one, or one per window size (``meta["parts"]``),
    each with its gate when the file has one."""
    specs = meta.get("parts") or [{"window_chars": meta["window_chars"], "coef": "coef",
                                   "intercept": meta["intercept"],
                                   "threshold": meta["threshold"]}]
    parts = []
    for spec in specs:
        gate = spec.get("gate")
        parts.append(Part(int(spec["window_chars"]), stored[spec["coef"]],
                          float(spec["intercept"]),
                          _logit(meta["threshold"]) - _logit(spec["threshold"]),
                          Gate(stored[gate["coef"]], float(gate["intercept"]),
                               float(gate["threshold"])) if gate else None))
    return parts


@dataclass(frozen=True)
class Verdict:
    """The screen's judgment of one prompt."""

    risk: float
    flagged: bool
    families: list[str]
    window: Window | None  # the riskiest window (None when the prompt is empty)
    embedded: int = 0  # windows scored by the model (the gates cleared the others)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


class InjectionScreen:
    """Scores prompts with the trained regressions; thread-safe, loads its weights lazily."""

    def __init__(self, embedder: TextEmbedder, model_path: str | Path = SCREEN_MODEL,
                 threshold: float | None = None, gates: bool = True) -> None:
        self.embedder = embedder
        self.model_path = Path(model_path)
        self._threshold = threshold
        self.gates = gates  # False: every window goes to the model (INJECTION_SCREEN_GATES)
        self._model: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _weights(self) -> dict[str, Any]:
        with self._lock:
            if self._model is None:
                with np.load(self.model_path) as stored:
                    model = {name: stored[name] for name in stored.files}
                model["meta"] = json.loads(str(model["meta"]))
                model["parts"] = _parts(model, model["meta"])
                self._model = model
            return self._model

    @property
    def threshold(self) -> float:
        """Risk from which a prompt counts as an injection."""
        return self._threshold if self._threshold is not None else \
            float(self._weights()["meta"]["threshold"])

    def window_risks(self, text: str) -> tuple[list[Window], np.ndarray]:
        """Every window of ``text`` (of each window size the screen scores) and its
        probability of being an injection, on the scale of the screen's threshold."""
        spans, risks, _ = self._score(text)
        return spans, risks

    def _score(self, text: str) -> tuple[list[Window], np.ndarray, np.ndarray]:
        """Windows, their risks, and which of them the model scored (the rest were cleared
        by their gate and keep its risk, shifted like their part's: under the threshold)."""
        parts: list[Part] = self._weights()["parts"]
        cuts = [windows(text, part.window_chars) for part in parts]
        spans = [w for cut in cuts for w in cut]
        pieces = [text[w.start:w.end] for w in spans]
        forms = [canonical(piece) or " " for piece in pieces]
        cheap = cheap_inputs(pieces, forms)
        ranges = np.cumsum([0] + [len(cut) for cut in cuts])
        risks = np.zeros(len(spans))
        escalate = np.ones(len(spans), dtype=bool)
        gated = self.gates and len(text) > GATED_FROM_CHARS
        for part, start, end in zip(parts, ranges, ranges[1:], strict=False):
            if part.gate is not None and gated:
                static = self.embedder.embed_static(forms[start:end])
                logits = (static @ part.gate.coef[:DIMENSIONS]
                          + cheap.dot(part.gate.coef[DIMENSIONS:], np.arange(start, end))
                          + part.gate.intercept)
                escalate[start:end] = logits >= _logit(part.gate.threshold)
                # On the screen's scale, like the part's own risks: as the gate's threshold is
                # under the part's, a cleared window stays under the screen's threshold.
                risks[start:end] = _sigmoid(logits + part.shift)
        chosen = np.flatnonzero(escalate)
        if chosen.size:
            vectors = np.zeros((len(spans), DIMENSIONS), dtype=np.float32)
            vectors[chosen] = self._embeddings([forms[i] for i in chosen],
                                               [spans[i] for i in chosen])
            for part, start, end in zip(parts, ranges, ranges[1:], strict=False):
                mine = chosen[(chosen >= start) & (chosen < end)]
                if mine.size:
                    risks[mine] = _sigmoid(vectors[mine] @ part.coef[:DIMENSIONS]
                                           + cheap.dot(part.coef[DIMENSIONS:], mine)
                                           + part.intercept + part.shift)
        return spans, risks, escalate

    def _embeddings(self, forms: list[str], spans: list[Window]) -> np.ndarray:
        """The windows' embeddings, each distinct text embedded once (a short prompt is one
        window of every size)."""
        vectors: dict[str, np.ndarray] = {}
        # One batch per window size: a batch is padded to its longest window, so 160-
        # character windows batched with 400-character ones would cost twice as much.
        for size in sorted({w.size for w in spans}):
            new = list(dict.fromkeys(form for form, w in zip(forms, spans, strict=True)
                                     if w.size == size and form not in vectors))
            if new:
                vectors.update(zip(new, self.embedder.embed(new), strict=True))
        return np.stack([vectors[form] for form in forms])

    def judge(self, text: str) -> Verdict:
        """Risk of the riskiest window, whether it passes the threshold, and why."""
        if not text.strip():
            return Verdict(0.0, False, [], None)
        spans, risks, escalated = self._score(text)
        best = int(np.argmax(risks))
        window = spans[best]
        features = pattern_features(text[window.start:window.end])
        families = [f for f, w in zip(FAMILIES, features, strict=True) if w > 0]
        risk = float(risks[best])
        embedded = int(escalated.sum())
        metrics.INJECTION_SCREEN_WINDOWS.labels("model").inc(embedded)
        metrics.INJECTION_SCREEN_WINDOWS.labels("gate").inc(len(spans) - embedded)
        return Verdict(risk, risk >= self.threshold, families, window, embedded)


@lru_cache(maxsize=1)
def default_screen() -> InjectionScreen:
    """A process-wide screen on the configured embedding model (scripts and tests)."""
    from ai_backends.cache.embeddings import Embedder
    from ai_backends.core.config import load_config

    return InjectionScreen(Embedder(load_config()["EMBEDDING_MODEL_DIR"]))
