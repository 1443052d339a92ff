"""The model management command line (``ai-backends-models``, ``scripts/manage_models.py``).

Subcommands (``list``, ``compare NAME``, ``alias NAME VERSION ALIAS``, ``remove-alias``,
``lineage NAME VERSION``, ``transition NAME VERSION STAGE``, ``history NAME``), optionally
after ``models``; the older flag forms (``--list``, ``--alias NAME VERSION ALIAS``) that the
specification documents keep working.

Every command prints a readable table, or JSON with ``--json``; an error prints one line
``error: <reason>`` on stderr and exits non-zero (1 for a failure, 2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ai_backends.core.config import load_config
from ai_backends.core.errors import ServiceError
from ai_backends.mlops.registry import STAGES, ModelRegistry

# name, arguments (metavars), help; the legacy flag of each is ``--<name>``.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "list": ((), "models, versions, aliases, stages and accuracy"),
    "compare": (("NAME",), "versions of NAME side by side"),
    "alias": (("NAME", "VERSION", "ALIAS"),
              "point ALIAS of NAME at VERSION (recorded in history)"),
    "remove-alias": (("NAME", "ALIAS"), "remove ALIAS from NAME (recorded in history)"),
    "lineage": (("NAME", "VERSION"), "run, params, metrics, data hash, commit and artifacts"),
    "transition": (("NAME", "VERSION", "STAGE"),
                   f"deprecated: set a stage ({', '.join(STAGES)}); also moves the alias of "
                   "the same name"),
    "history": (("NAME",), "every alias move of NAME"),
}
# The command group's name: ``manage_models.py models list`` = ``manage_models.py list``.
GROUP = "models"


def _options() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print JSON instead of tables")
    options.add_argument("--tracking-uri", default=argparse.SUPPRESS,
                         help="MLflow tracking URI (default: configuration)")
    return options


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``[models] COMMAND ARGS`` (``list``, ``alias NAME VERSION ALIAS``,
    ...); the older flag forms (``--list``, ``--alias NAME VERSION ALIAS``) still work."""
    parser = argparse.ArgumentParser(
        parents=[_options()],
        description="Inspect and manage the MLflow model registry. Commands may be "
                    "written as subcommands (list, alias NAME VERSION ALIAS), after "
                    "'models', or as the older flags (--list, --alias NAME VERSION ALIAS).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (arguments, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, parents=[_options()], help=help_text,
                                  description=help_text)
        for argument in arguments:
            sub.add_argument(argument.lower(), metavar=argument)
    return parser


def normalize(argv: Sequence[str]) -> list[str]:
    """Subcommand form of a command line in any accepted form.

    Drops a leading ``models`` and turns a legacy verb flag (``--list``, ``--alias``, ...)
    into its subcommand, wherever it stands among the options.
    """
    args = list(argv)
    if args and args[0] == GROUP:
        args = args[1:]
    flags = {f"--{name}": name for name in COMMANDS}
    for position, token in enumerate(args):
        if token in flags:
            count = len(COMMANDS[flags[token]][0])
            operands = args[position + 1: position + 1 + count]
            rest = args[:position] + args[position + 1 + count:]
            return [flags[token], *operands, *rest]
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line in any accepted form into one namespace (exit 2 on bad usage)."""
    return build_parser().parse_args(normalize(sys.argv[1:] if argv is None else argv))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run one command; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = parse_args(argv)
    config = load_config()
    if getattr(args, "tracking_uri", None):
        config["MLFLOW_TRACKING_URI"] = args.tracking_uri
    registry = ModelRegistry.from_config(config)
    try:
        result, render = _dispatch(registry, args, err)
    except ServiceError as exc:
        print(f"error: {exc.detail}", file=err)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=str), file=out)
    else:
        print(render(result), file=out)
    return 0


def _dispatch(registry: ModelRegistry, args: argparse.Namespace,
              err: TextIO) -> tuple[Any, Any]:
    command = args.command
    if command == "list":
        return registry.list_models(), _render_list
    if command == "compare":
        return registry.compare(args.name), _render_compare
    if command == "alias":
        return registry.set_alias(args.name, _version(args.version), args.alias), _render_move
    if command == "remove-alias":
        return registry.remove_alias(args.name, args.alias), _render_move
    if command == "lineage":
        return registry.lineage(args.name, _version(args.version)), _render_lineage
    if command == "transition":
        message = ("stages are deprecated in MLflow; use: alias NAME VERSION ALIAS "
                   "(this transition also moves the matching alias)")
        print(f"warning: {message}", file=err)
        return (registry.transition(args.name, _version(args.version), args.stage),
                _render_move)
    return registry.history(args.name), _render_history


def _version(text: str) -> str:
    if not text.isdigit() or int(text) < 1:
        from ai_backends.core.errors import InvalidInput

        raise InvalidInput(f"VERSION must be a positive whole number, not {text!r}")
    return str(int(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table with aligned columns."""
    cells = [[("-" if value is None or value == "" else str(value)) for value in row]
             for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _render_list(models: list[dict[str, Any]]) -> str:
    if not models:
        return "no registered models (train and register with: python scripts/train_iris_model.py)"
    rows = [(model["name"], v["version"], ", ".join(v["aliases"]), v["stage"], v["accuracy"],
             v["data_hash"], v["git_commit"], v["created"])
            for model in models for v in model["versions"]]
    return table(("model", "version", "aliases", "stage", "accuracy", "data", "commit",
                  "created"), rows)


def _render_compare(versions: list[dict[str, Any]]) -> str:
    metric_names = sorted({name for v in versions for name in v["metrics"]})
    param_names = [p for p in ("n_estimators", "max_depth", "seed")
                   if any(p in v["params"] for v in versions)]
    rows = [(v["version"], ", ".join(v["aliases"]), v["stage"],
             *(_number(v["metrics"].get(m)) for m in metric_names),
             *(v["params"].get(p) for p in param_names), v["data_hash"], v["created"])
            for v in versions]
    return table(("version", "aliases", "stage", *metric_names, *param_names, "data",
                  "created"), rows)


def _number(value: Any) -> str | None:
    return None if value is None else f"{value:.4g}"


def _render_move(entry: dict[str, Any]) -> str:
    if entry.get("alias") is None:
        return f"{entry['name']} version {entry['version']} is now in stage {entry['stage']}"
    before = entry["from_version"] or "(none)"
    after = entry["to_version"] or "(removed)"
    stage = f" (stage {entry['stage']})" if entry.get("stage") else ""
    return (f"{entry['model']} alias {entry['alias']}: version {before} -> {after}{stage}, "
            f"by {entry['who']} at {entry['time']}")


def _render_lineage(info: dict[str, Any]) -> str:
    pairs = [
        ("model", f"{info['name']} version {info['version']}"),
        ("aliases", ", ".join(info["aliases"])),
        ("stage", info["stage"]),
        ("created", info["created"]),
        ("description", info["description"]),
        ("source", info["source"]),
        ("run", f"{info['run_id']} ({info['run_name']}, experiment {info['experiment_id']})"),
        ("run artifacts", info["run_artifact_uri"]),
        ("data hash", info["data_hash"]),
        ("git commit", info["git_commit"]),
        ("run artifacts list", ", ".join(info["artifacts"])),
        ("model files", ", ".join(info["model_files"])),
    ]
    pairs += [(f"metric {k}", _number(v)) for k, v in sorted(info["metrics"].items())]
    pairs += [(f"param {k}", v) for k, v in sorted(info["params"].items())]
    return table(("field", "value"), pairs)


def _render_history(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no alias moves recorded"
    rows = [(e["time"], e["alias"], e["action"], e["from_version"], e["to_version"], e["who"],
             e["note"]) for e in entries]
    return table(("time", "alias", "action", "from", "to", "who", "note"), rows)
