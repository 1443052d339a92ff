"""The README's test command installs Chromium where it can and says loudly where it cannot
(issue 14, item 11). apt-get is faked (an external boundary): the machine is not changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ai_backends.core import bootstrap

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine without any Chromium: empty PATH, no Debian or Playwright browser."""
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.setattr(bootstrap, "DEBIAN_CHROMIUM", str(tmp_path / "usr-bin-chromium"))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "playwright"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_without_root_it_says_why_the_browser_tests_will_not_run(
        no_browser: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    (no_browser / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    (no_browser / "apt-get").chmod(0o755)
    assert bootstrap.find_browser() is None
    assert "needs root and apt-get" in bootstrap.ensure_browser()


def test_as_root_with_apt_get_it_installs_chromium(no_browser: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    calls = no_browser.parent / "apt-calls"
    fake = no_browser / "apt-get"  # records its arguments; "install" provides the browser
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n'
                    f'[ "$1" = install ] && : > {bootstrap.DEBIAN_CHROMIUM}\nexit 0\n')
    fake.chmod(0o755)
    assert bootstrap.ensure_browser() == ""
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
    assert bootstrap.find_browser() == bootstrap.DEBIAN_CHROMIUM


def test_a_failed_install_is_reported(no_browser: Path, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (no_browser / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    (no_browser / "apt-get").chmod(0o755)
    assert "failed" in bootstrap.ensure_browser()


def test_the_summary_ends_with_what_did_not_run(tmp_path: Path) -> None:
    env = {**os.environ, "CHROMIUM_PATH": str(tmp_path / "no-such-browser")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "tests/console/test_console_page.py"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300)
    tail = done.stdout.strip().splitlines()[-2:]  # the very end of the output
    banner = [line for line in tail if "TESTS DID NOT RUN" in line]
    assert banner, done.stdout[-2000:]
    assert any("not run: CHROMIUM_PATH=" in line for line in tail)
