"""``--help`` of every command at 80 columns: nothing cut, flags without values, a plain usage."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bridge.cli import _COMMANDS, app

WIDTH = 80


def _help(*args: str) -> str:
    done = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(WIDTH)})
    assert done.exit_code == 0, done.output
    return done.stdout


def _whole(option: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")


def _command(*path: str) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.get_command(None, name)
    return command


def _every_command() -> list[tuple[str, ...]]:
    """Each command, and each subcommand of a command that has them (``jobs list``)."""
    paths: list[tuple[str, ...]] = []
    for name in sorted(_COMMANDS):
        paths.append((name,))
        command = _command(name)
        if hasattr(command, "list_commands"):
            paths += [(name, sub) for sub in command.list_commands(None)]
    return paths


@pytest.mark.parametrize("path", _every_command(), ids=" ".join)
def test_help_fits_80_columns_and_cuts_nothing(path: tuple[str, ...]) -> None:
    text = _help(*path)
    flat = " ".join(text.split())
    assert max(len(line) for line in text.splitlines()) <= WIDTH, text
    assert "…" not in text and "<bool>" not in text and "<list" not in text
    command = _command(*path)
    for param in command.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        for opt in (*param.opts, *param.secondary_opts):
            assert _whole(opt).search(text), (opt, text)  # never "--perspective-cor…"
        if param.is_flag:
            line = next(ln for ln in text.splitlines() if _whole(param.opts[-1]).search(ln))
            assert "<" not in line and "BOOL" not in line.upper().split(), line
        default = param.default
        if param.show_default and not param.is_flag and default not in (None, [], ()):
            shown = default.value if isinstance(default, Enum) else default
            assert f"default: {shown}" in flat, (param.name, flat)


@pytest.mark.parametrize("path", _every_command(), ids=" ".join)
def test_usage_line_names_arguments_in_capitals(path: tuple[str, ...]) -> None:
    usage = _help(*path).splitlines()[0]
    assert usage.startswith(f"Usage: imagen-bridge {' '.join(path)} [OPTIONS]")
    assert "{" not in usage and "<" not in usage
    for param in _command(*path).params:
        if param.param_type_name == "argument":
            assert param.name.upper() in usage


def test_help_markers_of_types_are_words_not_python_types() -> None:
    text = _help("merge")
    assert "SOURCES..." in text and "--into PATH" in text and "[adobe|darktable]" in text
    assert "list[Path]" not in text and "<path>" not in text


def test_the_command_list_wraps_instead_of_cutting() -> None:
    text = _help()
    flat = " ".join(text.split())
    assert "..." not in text.split("Commands:")[1]
    for name in _COMMANDS:
        first = (_command(name).help or "").split(".")[0]
        assert " ".join(first.split()) in flat, name
