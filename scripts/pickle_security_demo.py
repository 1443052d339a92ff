"""Show that loading a pickle runs code and loading ONNX cannot; ``ai-backends-pickle-demo``."""

import sys

from ai_backends.classify.cli import pickle_demo

if __name__ == "__main__":
    sys.exit(pickle_demo())
