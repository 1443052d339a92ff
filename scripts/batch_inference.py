"""Run a file of prompts through the LLM, resumably; same as ``ai-backends-batch``."""

import sys

from ai_backends.llm.cli import batch

if __name__ == "__main__":
    sys.exit(batch())
