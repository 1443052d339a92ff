"""Render the configuration reference (docs/configuration.md) from ``Settings``.

The page is generated, never edited by hand: the one declaration of every setting (name, type,
default, description) is ``ai_backends.core.config.Settings``, and the comment lines between
its fields become the page's sections. ``python scripts/generate_config_docs.py`` rewrites
the page; a unit test fails when the committed page differs from what this module renders.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ai_backends.core import config as config_module
from ai_backends.core.config import ROOT, Settings

PAGE = ROOT / "docs" / "configuration.md"
COMMAND = "python scripts/generate_config_docs.py"
FIRST_SECTION = "General: the API, storage, Redis, the LLM backend, security, logging"

INTRO = """\
# Configuration

<!-- Generated from ai_backends/core/config.py (Settings) by {command}. Do not edit. -->

Every setting is an environment variable of the same name, declared once in
`ai_backends/core/config.py` (`Settings`, pydantic-settings) with its type, default and
meaning. Precedence: the default, then the environment, then the mapping passed to
`create_app(config)` or `build_services(config)`. An empty value of an optional setting
(`REDIS_URL=`) means unset. Defaults under `./` are relative to the repository root.

This page is generated from that declaration: after adding or changing a setting, run
`{command}` and commit the page (a unit test, `tests/core/test_docs.py`, fails until you do).
"""


@dataclass
class Section:
    """A heading of the page and the settings under it, in declaration order."""

    title: str
    names: list[str] = field(default_factory=list)


def sections(source: str | None = None) -> list[Section]:
    """Settings grouped by the comment lines that precede them in the class body."""
    text = source if source is not None else Path(config_module.__file__).read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    body = next(node for node in tree.body
                if isinstance(node, ast.ClassDef) and node.name == "Settings").body
    result = [Section(FIRST_SECTION)]
    previous_end = body[0].lineno - 1
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            comments = [line.strip()[1:].strip() for line in lines[previous_end:node.lineno - 1]
                        if line.strip().startswith("#")]
            titles = [c for c in comments if c and not c.startswith("...")]
            if titles:
                result.append(Section(" ".join(titles).rstrip(".").removesuffix("..")))
            if node.target.id in Settings.model_fields:
                result[-1].names.append(node.target.id)
        previous_end = node.end_lineno or node.lineno
    listed = {name for section in result for name in section.names}
    rest = [name for name in Settings.model_fields if name not in listed]
    if rest:
        result.append(Section("Other", rest))
    return [section for section in result if section.names]


def type_name(annotation: Any) -> str:
    """A short, readable name of a setting's type (``str | None``, ``list[str]``)."""
    if isinstance(annotation, types.UnionType) or get_origin(annotation) is not None:
        args = get_args(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, types.UnionType):
            return " | ".join(type_name(arg) for arg in args)
        if origin is Literal:
            return " | ".join(repr(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(map(type_name, args))}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def default_text(info: FieldInfo) -> str:
    """The default as shown on the page: paths relative to the checkout, 'unset', 'empty'."""
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "unset"
    if value in ("", []):
        return "empty"
    text = str(value)
    if isinstance(value, str) and text.startswith(str(ROOT)):
        text = "./" + Path(text).relative_to(ROOT).as_posix()
    return f"`{text}`"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole configuration page as Markdown."""
    parts = [INTRO.format(command=COMMAND)]
    for section in sections():
        parts.append(f"## {section.title}\n")
        parts.append("| setting | type | default | description |\n|---|---|---|---|")
        for name in section.names:
            info = Settings.model_fields[name]
            parts.append(f"| `{name}` | `{cell(type_name(info.annotation))}` | "
                         f"{cell(default_text(info))} | {cell(info.description or '')} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write(path: Path = PAGE) -> bool:
    """Write the page; return True when its content changed."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True
