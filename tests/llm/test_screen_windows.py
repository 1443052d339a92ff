"""The screen's weights files with two window sizes, and embeddings derived for long windows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ai_backends.llm.screen import FAMILIES, HASH_FEATURES, InjectionScreen, Window, windows

pytestmark = pytest.mark.unit
INPUTS = 384 + len(FAMILIES) + HASH_FEATURES
# Twelve sentences of about 50 characters: three 160-character windows hold what one
# 400-character window holds.
PROMPT = " ".join(f"Sentence number {i:02d} talks about the weather today." for i in range(12))


class CountingEmbedder:
    """A stand-in for MiniLM: a fixed unit vector per text; remembers what it embedded."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        """Rows of unit length, one per text."""
        self.seen += texts
        rows = np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=384)
                         for t in texts]).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def weights_file(folder: Path, parts: list[tuple[int, float, float]]) -> Path:
    """A screen whose regressions ignore their inputs: (window size, threshold, constant risk)."""
    meta = {"window_chars": parts[0][0], "threshold": parts[0][1],
            "intercept": float(np.log(parts[0][2] / (1 - parts[0][2]))),
            "parts": [{"window_chars": size, "threshold": threshold, "coef": f"coef_{size}",
                       "intercept": float(np.log(risk / (1 - risk)))}
                      for size, threshold, risk in parts]}
    path = folder / "screen.npz"
    arrays: dict[str, Any] = {f"coef_{size}": np.zeros(INPUTS, dtype=np.float32)
                              for size, _, _ in parts}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def test_each_size_is_judged_at_its_own_threshold(tmp_path: Path) -> None:
    # 400: risk 0.5 under its threshold 0.6; 160: risk 0.95 over its threshold 0.9.
    screen = InjectionScreen(CountingEmbedder(), weights_file(tmp_path, [(400, 0.6, 0.5),
                                                                         (160, 0.9, 0.95)]))
    spans, risks = screen.window_risks(PROMPT)
    assert {w.size for w in spans} == {400, 160}
    assert len(spans) == len(windows(PROMPT, 400)) + len(windows(PROMPT, 160))
    long = np.array([w.size == 400 for w in spans])
    assert np.allclose(risks[long], 0.5) and np.all(risks[~long] > 0.6)
    verdict = screen.judge(PROMPT)
    assert verdict.flagged and verdict.window is not None and verdict.window.size == 160
    assert screen.threshold == 0.6


def test_the_same_screen_under_both_thresholds_passes(tmp_path: Path) -> None:
    screen = InjectionScreen(CountingEmbedder(), weights_file(tmp_path, [(400, 0.6, 0.5),
                                                                         (160, 0.9, 0.85)]))
    verdict = screen.judge(PROMPT)
    assert not verdict.flagged and verdict.risk < 0.6


def test_a_short_prompt_is_embedded_once_for_both_sizes(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    screen = InjectionScreen(embedder, weights_file(tmp_path, [(400, 0.6, 0.5),
                                                               (160, 0.9, 0.5)]))
    spans, _ = screen.window_risks("What is the capital of France?")
    assert [w.size for w in spans] == [400, 160] and len(embedder.seen) == 1


def test_derived_long_windows_embed_only_the_short_ones(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    screen = InjectionScreen(embedder, weights_file(tmp_path, [(400, 0.6, 0.5),
                                                               (160, 0.9, 0.5)]),
                             derive_long=True)
    spans = windows(PROMPT, 400) + windows(PROMPT, 160)
    vectors = screen._embeddings([PROMPT[w.start:w.end] for w in spans], spans)
    short = [w for w in spans if w.size == 160]
    assert len(embedder.seen) == len(short)
    # The first 400 window (0-400) holds the 160 windows 0-150 and 150-300 and 100
    # characters of 300-450: the mean of their vectors weighted 150, 150 and 100.
    assert (spans[0].start, spans[0].end) == (0, 400)
    inside = [i for i, w in enumerate(spans) if w.size == 160 and w.start < 400]
    assert [(spans[i].start, spans[i].end) for i in inside] == [(0, 150), (150, 300), (300, 450)]
    mean = np.array([150, 150, 100], dtype=np.float32) @ vectors[inside]
    assert np.allclose(vectors[0], mean / np.linalg.norm(mean), atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_file_of_one_size_keeps_its_scale(tmp_path: Path) -> None:
    screen = InjectionScreen(CountingEmbedder(), weights_file(tmp_path, [(400, 0.6, 0.7)]))
    spans, risks = screen.window_risks(PROMPT)
    assert all(w == Window(w.start, w.end, 400) for w in spans) and np.allclose(risks, 0.7)
