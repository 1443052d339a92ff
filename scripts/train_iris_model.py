"""Train the Iris classifier (``--register``: also into MLflow); same as ``ai-backends-train``."""

import sys

from ai_backends.classify.cli import train

if __name__ == "__main__":
    sys.exit(train())
