"""The docs describe what the code offers: README commands, the generated settings page, the site."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ai_backends.core.config import Settings
from ai_backends.core.config_docs import COMMAND, PAGE, render, sections

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == [
        "python3 run.py", "python3 run_tests.py"]


def test_readme_stays_a_short_page() -> None:
    lines = len(README.splitlines())
    assert lines <= 250, f"README.md has {lines} lines; move details into docs/ (limit 250)"


def test_configuration_page_is_generated_from_settings() -> None:
    committed = PAGE.read_text() if PAGE.exists() else ""
    assert committed == render(), (
        f"docs/configuration.md differs from the Settings declaration: run `{COMMAND}` "
        "and commit the page")


def test_every_setting_is_on_the_configuration_page_once() -> None:
    names = [name for section in sections() for name in section.names]
    assert sorted(names) == sorted(Settings.model_fields)
    page = PAGE.read_text()
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in page]
    assert not missing, f"settings missing from docs/configuration.md: {missing}; run `{COMMAND}`"


def test_comment_lines_in_settings_start_sections() -> None:
    source = '''
class Settings:
    HOST: str = "a"
    # Sidecars: the servers...
    HTTP_SIDECAR_PORT: int = 1
    # ...and how the API calls them.
    SIDECAR_TIMEOUT: float = 2.0
'''
    titles = [(s.title, s.names) for s in sections(source)]
    assert titles[0][1] == ["HOST"]
    assert titles[1] == ("Sidecars: the servers", ["HTTP_SIDECAR_PORT", "SIDECAR_TIMEOUT"])


def test_docs_links_point_at_existing_files() -> None:
    import re

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to missing files: {broken}"


@pytest.mark.slow
def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: "
                                          "pip install -r requirements-dev.txt")
    pytest.importorskip("material", reason="mkdocs-material is not installed: "
                                           "pip install -r requirements-dev.txt")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()
