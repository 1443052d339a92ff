"""The injection screen: logistic regressions on sentence embeddings, window by window.

A prompt is cut twice into windows of whole sentences: at most ``WINDOW_CHARS`` (400) and at
most ``SHORT_WINDOW_CHARS`` (160) characters each. Each window's canonical form (see
``injection.canonical``) is embedded with all-MiniLM-L6-v2 (the semantic cache's model) and
scored by the logistic regression of its window size, whose inputs are the 384 embedding
dimensions, one input per pattern family (the weight of the strongest pattern of that family
that matches the window) and the window's character 3-5-grams, hashed into ``HASH_FEATURES``
buckets (no vocabulary to ship; the n-grams catch wording in languages the English embedding
model reads poorly). Each regression has its own threshold; the 160-character risks are
shifted (in logits) so that theirs lands on the 400-character one, and the prompt's risk is
its riskiest window of either size. The screen names that window, its size and the pattern
families found in it, so a refusal says where and why.

Scoring windows, not the whole prompt, keeps an instruction hidden in a long pasted document
from being averaged away, and keeps one odd sentence of a book from tipping a long passage.
Short windows find the one hostile sentence in a document; long windows keep more of a long
jailbreak together (docs/judgments.md). The weights, the thresholds and how they were chosen
live in ``data/injection_screen.npz`` (about 0.4 MB), written by
``scripts/train_injection_screen.py`` from the committed training split only; a file with
one regression (one window size) is read as well.
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

from ai_backends.llm.injection import PATTERNS, canonical

SCREEN_MODEL = Path(__file__).with_name("data") / "injection_screen.npz"
WINDOW_CHARS = 400
SHORT_WINDOW_CHARS = 160
HASH_FEATURES = 2**16
FAMILIES = tuple(sorted({p.family for p in PATTERNS}))
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")


class TextEmbedder(Protocol):
    """Anything that embeds texts into unit vectors (the cache's ``Embedder``)."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Rows of unit length, one per text."""
        ...


@dataclass(frozen=True)
class Window:
    """A span of the prompt scored on its own."""

    start: int
    end: int
    size: int = WINDOW_CHARS  # the window size of the cut it belongs to


def windows(text: str, size: int = WINDOW_CHARS) -> list[Window]:
    """Consecutive spans of whole sentences, each at most ``size`` characters (a longer
    sentence is cut into pieces of ``size``)."""
    spans: list[Window] = []
    start = 0
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    current_start, current_end = 0, 0
    for cut in cuts:
        if cut - current_start > size and current_end > current_start:
            spans.append(Window(current_start, current_end, size))
            current_start = current_end
        while cut - current_start > size:  # one sentence longer than a window
            spans.append(Window(current_start, current_start + size, size))
            current_start += size
        current_end = cut
        start = cut
    if current_end > current_start or not spans:
        spans.append(Window(current_start, max(current_end, start), size))
    return [w for w in spans if text[w.start:w.end].strip()] or [Window(0, len(text), size)]


def pattern_features(text: str) -> np.ndarray:
    """Per family, the weight of its strongest pattern that matches ``text`` (else 0)."""
    form = canonical(text)
    weights = dict.fromkeys(FAMILIES, 0.0)
    for pattern in PATTERNS:
        if weights[pattern.family] < pattern.weight and pattern.regex.search(form):
            weights[pattern.family] = pattern.weight
    return np.array([weights[f] for f in FAMILIES], dtype=np.float32)


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer  # heavy import, once

    return HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=HASH_FEATURES,
                             alternate_sign=False, norm="l2")


def window_features(texts: list[str], embedder: TextEmbedder,
                    vectors: np.ndarray | None = None) -> Any:
    """Embedding, pattern and hashed n-gram inputs for each window text (a sparse matrix);
    ``vectors`` are the windows' embeddings when already computed."""
    from scipy.sparse import csr_matrix, hstack

    forms = [canonical(t) or " " for t in texts]
    if vectors is None:
        vectors = embedder.embed(forms)
    patterns = np.stack([pattern_features(t) for t in texts])
    dense = np.hstack([vectors, patterns]).astype(np.float32)
    return hstack([csr_matrix(dense), _hasher().transform(forms)]).tocsr()


def derived_embeddings(spans: list[Window], short: list[Window], vectors: np.ndarray
                       ) -> np.ndarray:
    """Embeddings of ``spans`` from those (``vectors``) of the ``short`` windows of the same
    text: the normalized mean of theirs, each weighted by the characters it shares."""
    starts = np.array([w.start for w in short])
    ends = np.array([w.end for w in short])
    overlap = np.stack([np.clip(np.minimum(ends, w.end) - np.maximum(starts, w.start), 0, None)
                        for w in spans]).astype(np.float32)
    derived = overlap @ vectors
    return derived / np.maximum(np.linalg.norm(derived, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Part:
    """One regression of the screen: the window size it scores and its weights."""

    window_chars: int
    coef: np.ndarray
    intercept: float
    shift: float  # added to its logits: puts its own threshold on the screen's


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _parts(stored: dict[str, Any], meta: dict[str, Any]) -> list[Part]:
    """The regressions in a weights file: one, or one per window size (``meta["parts"]``)."""
    specs = meta.get("parts") or [{"window_chars": meta["window_chars"], "coef": "coef",
                                   "intercept": meta["intercept"],
                                   "threshold": meta["threshold"]}]
    return [Part(int(spec["window_chars"]), stored[spec["coef"]], float(spec["intercept"]),
                 _logit(meta["threshold"]) - _logit(spec["threshold"])) for spec in specs]


@dataclass(frozen=True)
class Verdict:
    """The screen's judgment of one prompt."""

    risk: float
    flagged: bool
    families: list[str]
    window: Window | None  # the riskiest window (None when the prompt is empty)


class InjectionScreen:
    """Scores prompts with the trained regressions; thread-safe, loads its weights lazily."""

    def __init__(self, embedder: TextEmbedder, model_path: str | Path = SCREEN_MODEL,
                 threshold: float | None = None, derive_long: bool | None = None) -> None:
        self.embedder = embedder
        self.model_path = Path(model_path)
        self._threshold = threshold
        self.derive_long = derive_long  # see _embeddings; None: as the weights file says
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
        parts: list[Part] = self._weights()["parts"]
        cuts = [windows(text, part.window_chars) for part in parts]
        spans = [w for cut in cuts for w in cut]
        pieces = [text[w.start:w.end] for w in spans]
        features = window_features(pieces, self.embedder, self._embeddings(pieces, spans))
        logits, offset = [], 0
        for part, cut in zip(parts, cuts, strict=True):
            logits.append(features[offset:offset + len(cut)] @ part.coef + part.intercept
                          + part.shift)
            offset += len(cut)
        return spans, 1.0 / (1.0 + np.exp(-np.concatenate(logits)))

    def _embeddings(self, pieces: list[str], spans: list[Window]) -> np.ndarray:
        """The windows' embeddings: each distinct text embedded once (a short prompt is one
        window of every size), or with ``derive_long`` only the shortest windows
        (``derived_embeddings`` for the others)."""
        forms = [canonical(piece) or " " for piece in pieces]
        derive = self.derive_long
        if derive is None:
            derive = bool(self._weights()["meta"].get("derive_long", False))
        if not derive:
            vectors: dict[str, np.ndarray] = {}
            # One batch per window size: a batch is padded to its longest window, so 160-
            # character windows batched with 400-character ones would cost twice as much.
            for size in sorted({w.size for w in spans}):
                new = list(dict.fromkeys(form for form, w in zip(forms, spans, strict=True)
                                         if w.size == size and form not in vectors))
                if new:
                    vectors.update(zip(new, self.embedder.embed(new), strict=True))
            return np.stack([vectors[form] for form in forms])
        size = min(w.size for w in spans)
        short = [i for i, w in enumerate(spans) if w.size == size]
        return derived_embeddings(spans, [spans[i] for i in short],
                                  self.embedder.embed([forms[i] for i in short]))

    def judge(self, text: str) -> Verdict:
        """Risk of the riskiest window, whether it passes the threshold, and why."""
        if not text.strip():
            return Verdict(0.0, False, [], None)
        spans, risks = self.window_risks(text)
        best = int(np.argmax(risks))
        window = spans[best]
        features = pattern_features(text[window.start:window.end])
        families = [f for f, w in zip(FAMILIES, features, strict=True) if w > 0]
        risk = float(risks[best])
        return Verdict(risk, risk >= self.threshold, families, window)


@lru_cache(maxsize=1)
def default_screen() -> InjectionScreen:
    """A process-wide screen on the configured embedding model (scripts and tests)."""
    from ai_backends.cache.embeddings import Embedder
    from ai_backends.core.config import load_config

    return InjectionScreen(Embedder(load_config()["EMBEDDING_MODEL_DIR"]))
