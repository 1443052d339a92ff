"""ai-backends-models: subcommands and the older flags parse to the same command."""

from __future__ import annotations

import pytest

from ai_backends.mlops.cli import main, parse_args

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("command", "flags"), [
    (["list"], ["--list"]),
    (["compare", "iris-classifier-onnx"], ["--compare", "iris-classifier-onnx"]),
    (["alias", "iris-classifier-onnx", "2", "production"],
     ["--alias", "iris-classifier-onnx", "2", "production"]),
    (["remove-alias", "iris-classifier-onnx", "staging"],
     ["--remove-alias", "iris-classifier-onnx", "staging"]),
    (["lineage", "iris-classifier-sklearn", "1"], ["--lineage", "iris-classifier-sklearn", "1"]),
    (["transition", "iris-classifier-onnx", "2", "Staging"],
     ["--transition", "iris-classifier-onnx", "2", "Staging"]),
    (["history", "iris-classifier-onnx"], ["--history", "iris-classifier-onnx"]),
])
def test_a_subcommand_means_what_its_flag_means(command: list[str], flags: list[str]) -> None:
    assert parse_args(command) == parse_args(flags)


def test_options_go_before_or_after_the_subcommand() -> None:
    before = parse_args(["--json", "--tracking-uri", "sqlite:///x.db", "history", "m"])
    after = parse_args(["history", "m", "--json", "--tracking-uri", "sqlite:///x.db"])
    flags = parse_args(["--history", "m", "--json", "--tracking-uri", "sqlite:///x.db"])
    assert before == after == flags
    assert before.json is True and before.tracking_uri == "sqlite:///x.db"


@pytest.mark.parametrize("argv", [[], ["rename", "m"], ["alias", "m", "2"], ["list", "--list"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "usage:" in capsys.readouterr().err
