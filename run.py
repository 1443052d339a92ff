"""Set up everything on a fresh machine and run the stack: ``python3 run.py``.

Creates .venv, installs the requirements, trains the model if needed, then starts the API
(granian on 127.0.0.1:5001) and its companions with embedded defaults. Ctrl-C stops all.
"""

import sys

from ai_backends.core import bootstrap

if __name__ == "__main__":
    if not bootstrap.in_venv():
        python = bootstrap.ensure_environment()
        bootstrap.ensure_assets(python)
        bootstrap.reexec(python, [__file__, *sys.argv[1:]])
    from ai_backends.core.stack import run_stack

    sys.exit(run_stack())
