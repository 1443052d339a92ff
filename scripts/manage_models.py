"""Manage the MLflow model registry: list, compare, alias, lineage, transition, history.

Examples::

    python scripts/manage_models.py --list
    python scripts/manage_models.py --alias iris-classifier-onnx 2 production
    python scripts/manage_models.py --history iris-classifier-onnx --json
"""

import sys

import _path  # noqa: F401  (puts the repository root on sys.path)

from ai_backends.mlops.cli import main

if __name__ == "__main__":
    sys.exit(main())
