"""The README documents what the code offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_backends.core.config import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# The docs/ pages document settings too (the README is becoming a short page).
DOCS = "\n".join(page.read_text() for page in sorted((ROOT / "docs").rglob("*.md")))


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README + DOCS]
    assert not missing, f"settings documented neither in the README nor in docs/: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == [
        "python3 run.py", "python3 run_tests.py"]
