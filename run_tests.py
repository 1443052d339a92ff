"""Run the test suite:
``python3 run_tests.py [--type unit|integration|e2e|security|contract|cluster|all]``.

Sets up the virtualenv and model assets first when needed, so it works on a fresh clone.
For the browser tests it installs Debian's Chromium when there is none and it can (root and
apt-get, as .ci/run does); when it cannot, the summary says loudly which tests did not run.
"""

import argparse
import sys

from ai_backends.core import bootstrap

MARKERS = {
    "unit": "unit and not slow",  # the fast loop; the slow unit tests run in the full suite
    "integration": "integration",
    "e2e": "e2e",
    "security": "security",
    "cluster": "cluster",
    "contract": "contract",  # the specification's examples (tests/contract), also integration
    "all": None,
}


def main() -> int:
    """Parse the options and run pytest inside the virtualenv."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--type", choices=sorted(MARKERS), default="all")
    parser.add_argument("--coverage", action="store_true", help="measure coverage of ai_backends")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--no-browser-install", action="store_true",
                        help="do not install Chromium for the browser tests")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args()
    if not bootstrap.in_venv():
        python = bootstrap.ensure_environment(dev=True)
        bootstrap.ensure_assets(python)
        bootstrap.reexec(python, [__file__, *sys.argv[1:]])

    import pytest

    if args.type in ("all", "e2e") and not args.no_browser_install:
        missing = bootstrap.ensure_browser()
        if missing:
            print(f"\n!!! the browser (e2e) tests will not run: {missing}\n", flush=True)

    argv = ["-v"] if args.verbose else []
    marker = MARKERS[args.type]
    if marker:
        argv += ["-m", marker]
    if args.coverage:
        argv += ["--cov=ai_backends", "--cov-report=term-missing:skip-covered",
                 "--cov-report=xml"]
    code = int(pytest.main(argv + args.pytest_args))
    return 0 if code == pytest.ExitCode.NO_TESTS_COLLECTED and args.type != "all" else code


if __name__ == "__main__":
    sys.exit(main())
