"""Manage the MLflow model registry (list, compare, alias, lineage, transition, history);
the same as ``ai-backends-models``.

Examples (subcommands, optionally after ``models``; the older flag forms still work)::

    python scripts/manage_models.py models list
    python scripts/manage_models.py models alias iris-classifier-onnx 2 production
    python scripts/manage_models.py models history iris-classifier-onnx --json
    python scripts/manage_models.py --alias iris-classifier-sklearn 1 staging   # as documented
"""

import sys

from ai_backends.mlops.cli import main

if __name__ == "__main__":
    sys.exit(main())
