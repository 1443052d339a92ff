"""scripts/audit_dependencies.py: OSV range matching, names, withdrawn advisories, --ignore, exit codes."""

from __future__ import annotations

import importlib.util
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]

spec = importlib.util.spec_from_file_location(
    "audit_dependencies", ROOT / "scripts" / "audit_dependencies.py")
assert spec and spec.loader
audit_dependencies = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = audit_dependencies  # dataclasses look the module up
spec.loader.exec_module(audit_dependencies)


def advisory(ident: str, package: str, *, events: list[dict[str, str]] | None = None,
             versions: list[str] | None = None, range_type: str = "ECOSYSTEM",
             ecosystem: str = "PyPI", **extra: Any) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"name": package, "ecosystem": ecosystem}}
    if events is not None:
        affected["ranges"] = [{"type": range_type, "events": events}]
    if versions is not None:
        affected["versions"] = versions
    return {"id": ident, "modified": "2024-01-01T00:00:00Z", "affected": [affected], **extra}


def write(folder: Path, data: dict[str, Any], name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{data['id']}.yaml")
    path.write_text(json.dumps(data) if path.suffix == ".json" else yaml.safe_dump(data))
    return path


def affected(data: dict[str, Any], version: str, name: str | None = None) -> bool:
    package = name or data["affected"][0]["package"]["name"]
    return bool(audit_dependencies.affects(data, package, version))


def freeze(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "freeze.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name", ["Flask_Caching", "flask.caching", "FLASK--Caching", "flask-caching"])
def test_names_are_pep503_normalized(name: str) -> None:
    assert audit_dependencies.normalize(name) == "flask-caching"


@pytest.mark.parametrize(("version", "expected"), [
    ("0.9", False), ("1.0", True), ("1.0.1", True), ("1.2.3rc1", True), ("1.2.2", True),
    ("1.2.3", False), ("1.2.3.post1", False), ("2.0", False),
])
def test_introduced_fixed_range(version: str, expected: bool) -> None:
    data = advisory("PYSEC-1", "foo", events=[{"introduced": "1.0"}, {"fixed": "1.2.3"}])
    assert affected(data, version) is expected


@pytest.mark.parametrize(("version", "expected"), [
    ("0.0.1", True), ("0.1", True), ("1.9.9", True), ("2.0", True), ("2.0.0", True),
    ("2.0.1", False), ("2.0.post1", False), ("3.0", False),
])
def test_introduced_zero_and_last_affected(version: str, expected: bool) -> None:
    data = advisory("PYSEC-2", "foo", events=[{"introduced": "0"}, {"last_affected": "2.0"}])
    assert affected(data, version) is expected


@pytest.mark.parametrize(("version", "expected"), [
    ("0.5", False), ("1.0", True), ("1.4", True), ("1.5", False), ("1.9", False),
    ("2.0", True), ("2.2.9", True), ("2.3", False), ("3.0", False),
])
def test_several_intervals_in_one_range_in_any_order(version: str, expected: bool) -> None:
    events = [{"fixed": "2.3"}, {"introduced": "2.0"}, {"fixed": "1.5"}, {"introduced": "1.0"}]
    assert affected(advisory("PYSEC-3", "foo", events=events), version) is expected


def test_range_without_fix_affects_every_later_version() -> None:
    data = advisory("PYSEC-4", "foo", events=[{"introduced": "0"}])
    assert affected(data, "999.1")
    assert audit_dependencies.fixed_versions(data, "foo") == ()


def test_explicit_versions_list(tmp_path: Path) -> None:
    # Unquoted YAML versions: "1.10" must stay the string 1.10, not the float 1.1.
    (tmp_path / "PYSEC-5.yaml").write_text(
        "id: PYSEC-5\naffected:\n- package:\n    name: foo\n    ecosystem: PyPI\n"
        "  versions:\n  - 1.10\n  - 2.0.0\n")
    [data] = audit_dependencies.load_advisories(tmp_path)
    assert affected(data, "1.10")
    assert affected(data, "2.0")  # the same PEP 440 version as the listed 2.0.0
    assert not affected(data, "1.1")
    assert not affected(data, "2.0.1")


def test_git_ranges_and_other_ecosystems_are_ignored() -> None:
    git = advisory("PYSEC-6", "foo", events=[{"introduced": "0"}, {"fixed": "abc123"}],
                   range_type="GIT")
    npm = advisory("GHSA-npm", "foo", events=[{"introduced": "0"}], ecosystem="npm")
    assert not affected(git, "1.0")
    assert not affected(npm, "1.0")


def test_other_package_is_not_affected() -> None:
    data = advisory("PYSEC-7", "foo", events=[{"introduced": "0"}])
    assert not affected(data, "1.0", name="foobar")


def test_name_normalization_between_advisory_and_installed(tmp_path: Path) -> None:
    write(tmp_path / "adv", advisory("PYSEC-8", "Flask_Caching",
                                     events=[{"introduced": "0"}, {"fixed": "1.10.0"}]))
    findings = audit_dependencies.audit(
        audit_dependencies.load_advisories(tmp_path / "adv"),
        audit_dependencies.read_freeze(freeze(tmp_path, "flask-caching==1.9.0")))
    assert [(f.package, f.version, f.advisory, f.fixed) for f in findings] == [
        ("flask-caching", "1.9.0", "PYSEC-8", ("1.10.0",))]


def test_withdrawn_advisory_is_skipped() -> None:
    data = advisory("PYSEC-9", "foo", events=[{"introduced": "0"}],
                    withdrawn="2024-02-01T00:00:00Z")
    assert not affected(data, "1.0")
    assert audit_dependencies.audit([data], {"foo": "1.0"}) == []


def test_loads_yaml_and_json_recursively_and_skips_other_files(tmp_path: Path) -> None:
    write(tmp_path / "vulns" / "foo", advisory("PYSEC-10", "foo", events=[{"introduced": "0"}]))
    write(tmp_path / "vulns" / "bar", advisory("GHSA-11", "bar", events=[{"introduced": "0"}]),
          name="GHSA-11.json")
    (tmp_path / "vulns" / "README.md").write_text("id: not an advisory\n")
    ids = sorted(a["id"] for a in audit_dependencies.load_advisories(tmp_path))
    assert ids == ["GHSA-11", "PYSEC-10"]


def test_read_freeze(tmp_path: Path) -> None:
    path = freeze(tmp_path, "# comment", "Flask_Caching==2.5.1", "-e git+https://x/y#egg=y",
                  "zope.interface==8.7  # pinned", "requests[socks]==2.34.2", "")
    assert audit_dependencies.read_freeze(path) == {
        "flask-caching": "2.5.1", "zope-interface": "8.7", "requests": "2.34.2"}


@pytest.fixture
def advisories(tmp_path: Path) -> Path:
    folder = tmp_path / "vulns"
    write(folder / "foo", advisory("PYSEC-20", "foo", events=[{"introduced": "0"}, {"fixed": "1.5"}],
                                   aliases=["CVE-2020-1", "GHSA-aaaa"]))
    write(folder / "bar", advisory("PYSEC-21", "bar", events=[{"introduced": "2.0"}, {"fixed": "2.1"}]))
    return folder


def test_cli_reports_findings_and_exits_1(advisories: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = freeze(tmp_path, "Foo==1.4", "bar==2.1")
    assert audit_dependencies.main(["--advisories", str(advisories), "--freeze", str(path)]) == 1
    out = capsys.readouterr().out
    assert "2 advisories, 2 distributions checked, 1 known vulnerabilities found" in out
    [row] = [line for line in out.splitlines() if line.startswith("foo ")]
    assert row.split() == ["foo", "1.4", "PYSEC-20", "CVE-2020-1,", "GHSA-aaaa", "1.5"]
    assert "bar" not in out.split("Fixed in", 1)[1]


def test_cli_exits_0_when_clean(advisories: Path, tmp_path: Path) -> None:
    path = freeze(tmp_path, "foo==1.5", "bar==1.9")
    assert audit_dependencies.main(["--advisories", str(advisories), "--freeze", str(path)]) == 0


@pytest.mark.parametrize("ignored", ["PYSEC-20", "CVE-2020-1"])
def test_cli_ignore_by_id_or_alias(advisories: Path, tmp_path: Path, ignored: str) -> None:
    path = freeze(tmp_path, "foo==1.0", "bar==2.0.5")
    argv = ["--advisories", str(advisories), "--freeze", str(path), "--ignore", ignored]
    assert audit_dependencies.main(argv) == 1  # bar is still affected
    assert audit_dependencies.main([*argv, "--ignore", "PYSEC-21"]) == 0


def test_cli_without_advisories_exits_2(tmp_path: Path) -> None:
    assert audit_dependencies.main(["--advisories", str(tmp_path)]) == 2


def test_cli_audits_the_running_environment(tmp_path: Path) -> None:
    installed = metadata.version("packaging")
    assert audit_dependencies.installed_distributions()["packaging"] == installed
    write(tmp_path, advisory("PYSEC-30", "Packaging", versions=[installed]))
    assert audit_dependencies.main(["--advisories", str(tmp_path), "--requirements-from-env"]) == 1
    assert audit_dependencies.main(["--advisories", str(tmp_path), "--ignore", "PYSEC-30"]) == 0
