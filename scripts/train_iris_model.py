"""Train the Iris classifier and register it in MLflow (``--no-register``: only train);
the same as ``ai-backends-train``."""

import sys

from ai_backends.classify.cli import train

if __name__ == "__main__":
    sys.exit(train())
