"""``python -m ai_backends.core.granian_main ARGS``: granian's own command line, plus a
folder for the workers' metric samples, so ``/metrics`` adds up every worker.

gunicorn gets that folder from ``gunicorn.conf.py``'s ``on_starting``; granian has no such
hook, so this does the same around granian's entry point: the folder named by
``PROMETHEUS_MULTIPROC_DIR`` is emptied, or, when none is named, a fresh one is made and
removed again when granian stops. Without it each worker would answer ``/metrics`` with
only its own samples.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile


def main(args: list[str]) -> None:
    """Run granian's command line with ``args`` and a metrics folder for its workers."""
    own_folder = None
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)  # samples of an earlier run do not count
        os.makedirs(folder)
    else:
        own_folder = tempfile.mkdtemp(prefix="ai-backends-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_folder  # inherited by every worker
    from granian.cli import cli

    try:  # what granian's own entry point does, with our arguments
        cli.main(args=args, prog_name="granian", auto_envvar_prefix="GRANIAN")
    finally:
        if own_folder:
            shutil.rmtree(own_folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
