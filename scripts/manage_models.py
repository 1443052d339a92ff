"""Manage the MLflow model registry (list, alias, history, ...); ``ai-backends-models``."""

import sys

from ai_backends.mlops.cli import main

if __name__ == "__main__":
    sys.exit(main())
