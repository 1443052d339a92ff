"""Assemble the local all-MiniLM-L6-v2 folder; ``ai-backends-prepare-embeddings``."""

import sys

from ai_backends.cache.cli import prepare_embeddings

if __name__ == "__main__":
    sys.exit(prepare_embeddings())
