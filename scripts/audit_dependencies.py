"""Offline equivalent of pip-audit: match installed distributions against OSV advisories on disk.

pip-audit asks PyPI's JSON API or osv.dev, which need the network. This script reads PyPI
advisory data in OSV format from a local folder instead, typically a clone of the PyPA advisory
database (the PYSEC advisories; GitHub-only GHSA advisories are not in it), e.g.::

    git clone --depth 1 https://github.com/pypa/advisory-database /tmp/advisory-database
    python scripts/audit_dependencies.py --advisories /tmp/advisory-database/vulns

It loads every ``*.yaml``, ``*.yml`` and ``*.json`` advisory under the folder (recursively), takes
the distributions installed in the running interpreter (``--requirements-from-env``, the default)
or the ``name==version`` lines of a ``pip freeze`` file (``--freeze FILE``), and prints every
installed (name, version) that an advisory affects. Exit status: 0 when nothing is found, 1 when
something is, 2 when the folder holds no advisory. ``--ignore ID`` (repeatable; an advisory id or
one of its aliases, such as a CVE) skips an exception that is justified in the README.

Matching follows OSV: ``affected[].package.ecosystem == "PyPI"``, names compared after PEP 503
normalization; a version is affected when it is listed in ``affected[].versions`` or falls in an
``ECOSYSTEM`` range (``introduced`` / ``fixed`` / ``last_affected`` events). ``GIT`` ranges are
ignored, and so are advisories with a ``withdrawn`` field. The script makes no network access.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

ADVISORY_SUFFIXES = (".yaml", ".yml", ".json")

Advisory = Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    """One installed distribution that one advisory affects."""

    package: str
    version: str
    advisory: str
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_version(text: object) -> Version | None:
    """Return text as a PEP 440 version, or None when it is not one."""
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def load_advisories(folder: Path) -> list[Advisory]:
    """Load every OSV advisory (YAML or JSON) found under folder, recursively."""
    advisories: list[Advisory] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in ADVISORY_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        # BaseLoader keeps every scalar a string: "1.10" stays "1.10", not the float 1.1.
        # It builds only str, list and dict (no objects), so it is as safe as safe_load.
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.load(
            text, Loader=yaml.BaseLoader)  # nosec B506
        if isinstance(data, dict) and data.get("id"):
            advisories.append(data)
    return advisories


def _bound(value: object) -> Version | None:
    return Version("0") if str(value) == "0" else parse_version(value)


def in_range(version: Version, events: Sequence[Mapping[str, Any]]) -> bool:
    """Tell whether version falls in an OSV ECOSYSTEM range given by its events."""
    bounds = [(bound, kind) for event in events for kind, value in event.items()
              if kind in ("introduced", "fixed", "last_affected")
              and (bound := _bound(value)) is not None]
    affected = False
    for bound, kind in sorted(bounds, key=lambda pair: pair[0]):
        if kind == "introduced" and version >= bound:
            affected = True
        elif kind == "fixed" and version >= bound:
            affected = False
        elif kind == "last_affected" and version > bound:
            affected = False
    return affected


def _entries_for(advisory: Advisory, name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in advisory.get("affected") or []
            if (entry.get("package") or {}).get("ecosystem") == "PyPI"
            and normalize(str((entry.get("package") or {}).get("name", ""))) == normalize(name)]


def affects(advisory: Advisory, name: str, version: str) -> bool:
    """Tell whether the advisory affects version of the PyPI distribution name."""
    if "withdrawn" in advisory:
        return False
    parsed = parse_version(version)
    for entry in _entries_for(advisory, name):
        for listed in entry.get("versions") or []:
            listed_version = parse_version(listed)
            if str(listed) == version or (parsed and listed_version == parsed):
                return True
        if parsed is None:
            continue
        for rng in entry.get("ranges") or []:
            if rng.get("type") == "ECOSYSTEM" and in_range(parsed, rng.get("events") or []):
                return True
    return False


def fixed_versions(advisory: Advisory, name: str) -> tuple[str, ...]:
    """Return the versions that the advisory says fix the distribution name."""
    fixed = {str(event["fixed"]) for entry in _entries_for(advisory, name)
             for rng in entry.get("ranges") or [] if rng.get("type") == "ECOSYSTEM"
             for event in rng.get("events") or [] if "fixed" in event}
    return tuple(sorted(fixed, key=lambda v: parse_version(v) or Version("0")))


def installed_distributions() -> dict[str, str]:
    """Return {normalized name: version} of the distributions installed in this interpreter."""
    installed: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            installed.setdefault(normalize(name), dist.version)
    return installed


def read_freeze(path: Path) -> dict[str, str]:
    """Return {normalized name: version} from the ``name==version`` lines of a pip freeze file."""
    installed: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep and name and version:
            installed[normalize(name.split("[", 1)[0])] = version.split(";", 1)[0].strip()
    return installed


def audit(advisories: Iterable[Advisory], installed: Mapping[str, str],
          ignore: Iterable[str] = ()) -> list[Finding]:
    """Return the findings of the advisories on the installed distributions, minus ignored ids."""
    ignored = set(ignore)
    found: dict[tuple[str, str], Finding] = {}
    for advisory in advisories:
        aliases = tuple(str(a) for a in advisory.get("aliases") or [])
        if ignored & {str(advisory["id"]), *aliases}:
            continue
        names = {normalize(str((e.get("package") or {}).get("name", "")))
                 for e in advisory.get("affected") or []}
        for name in sorted(names & installed.keys()):
            if affects(advisory, name, installed[name]):
                key = (name, str(advisory["id"]))
                found[key] = Finding(name, installed[name], str(advisory["id"]), aliases,
                                     fixed_versions(advisory, name))
    return sorted(found.values(), key=lambda f: (f.package, f.advisory))


def format_table(findings: Sequence[Finding]) -> str:
    """Render the findings as a plain-text table."""
    header = ("Package", "Installed", "Advisory", "Aliases", "Fixed in")
    rows = [header] + [(f.package, f.version, f.advisory, ", ".join(f.aliases) or "-",
                        ", ".join(f.fixed) or "none") for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the audit from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        description="Offline pip-audit against a folder of OSV advisories.")
    parser.add_argument("--advisories", type=Path, required=True,
                        help="folder of OSV advisories, e.g. advisory-database/vulns")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--requirements-from-env", action="store_true",
                        help="audit the distributions installed in this interpreter (default)")
    source.add_argument("--freeze", type=Path, metavar="FILE",
                        help="audit the name==version lines of a pip freeze file instead")
    parser.add_argument("--ignore", action="append", default=[], metavar="ID",
                        help="advisory id or alias to skip (justified exception); repeatable")
    args = parser.parse_args(argv)

    advisories = load_advisories(args.advisories)
    if not advisories:
        print(f"no OSV advisory found under {args.advisories}", file=sys.stderr)
        return 2
    installed = read_freeze(args.freeze) if args.freeze else installed_distributions()
    findings = audit(advisories, installed, args.ignore)
    print(f"{len(advisories)} advisories, {len(installed)} distributions checked, "
          f"{len(findings)} known vulnerabilities found"
          + (f" ({len(args.ignore)} ids ignored)" if args.ignore else ""))
    if findings:
        print(format_table(findings))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
