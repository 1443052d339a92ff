"""One shape comparison: does an answer hold every key of a documented response?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _fits(documented: Any, actual: Any) -> bool:
    """The documented type: an integer must be an integer; a decimal may be any number."""
    want, got = _kind(documented), _kind(actual)
    if want == "number":
        return got in {"number", "integer"}
    return want == got


def shape_errors(documented: Any, actual: Any, path: str = "$") -> list[str]:
    """Every documented path that the answer lacks or holds with another type.

    Extra keys in the answer are fine. A documented list is compared element by element
    with its first documented element (a documented empty list only needs a list).
    """
    if documented is None:
        return []
    if not _fits(documented, actual):
        return [f"{path}: documented {_kind(documented)}, got {_kind(actual)} ({actual!r:.80})"]
    errors: list[str] = []
    if isinstance(documented, dict):
        for key, value in documented.items():
            if key not in actual:
                errors.append(f"{path}.{key}: missing")
            else:
                errors += shape_errors(value, actual[key], f"{path}.{key}")
    elif isinstance(documented, list) and documented:
        for index, item in enumerate(actual):
            errors += shape_errors(documented[0], item, f"{path}[{index}]")
    return errors


def value_at(answer: Any, path: str) -> Any:
    """The value at a dotted path (``results.rest.protocol``)."""
    for part in path.split("."):
        answer = answer[part]
    return answer


def value_errors(conventions: dict[str, Any], answer: Any) -> list[str]:
    """Paths whose value breaks a documented convention (a value, or a predicate)."""
    errors = []
    for path, expected in conventions.items():
        try:
            actual = value_at(answer, path)
        except (KeyError, TypeError):
            errors.append(f"{path}: missing")
            continue
        ok = expected(actual) if isinstance(expected, Callable) else actual == expected
        if not ok:
            errors.append(f"{path}: {actual!r} breaks the documented convention")
    return errors
