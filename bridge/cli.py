"""The ``imagen-bridge`` command line.

Commands are imported only when run (or when help lists them): ``merge`` and ``undo`` stay
quick to start because they never load the HTTP stacks that ``edit`` and ``emulator`` need.

Every command gets the same help and usage-error handling from here, so a command module
only declares its parameters: help is click's plain layout (option names and defaults are
never cut at 80 columns, flags show no value), values show a metavar (the one a command
declares, else one from the type: TEXT, INTEGER, NUMBER, PATH, [a|b]), arguments read
``PATHS...`` in the usage line, and with ``--json`` a usage error also prints the error
document on stdout (``bridge.commands.exits``).
"""

from __future__ import annotations

import importlib
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup

from bridge import __version__
from bridge.allocator import limit_arenas

# name -> (module, attribute): the typer-annotated function that implements the command,
# or the typer app of a command with subcommands.
_COMMANDS: dict[str, tuple[str, str]] = {
    "profiles": ("bridge.commands.profiles", "profiles_command"),
    "edit": ("bridge.commands.edit", "edit_command"),
    "demo": ("bridge.commands.demo", "demo_command"),
    "merge": ("bridge.commands.merge", "merge_command"),
    "undo": ("bridge.commands.merge", "undo_command"),
    "emulator": ("bridge.emulator.command", "emulator_command"),
    "serve": ("bridge.commands.serve", "serve_command"),
    "jobs": ("bridge.commands.jobs", "app"),
    "install-plugin": ("bridge.commands.install_plugin", "install_plugin_command"),
    "deliver": ("bridge.commands.deliver", "deliver_command"),
}


#: Help is laid out for the terminal's width, but never wider than this (long lines tire).
HELP_WIDTH = 100
_CONTEXT = {"max_content_width": HELP_WIDTH, "help_option_names": ["--help", "-h"]}
_TYPE_METAVARS: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH"}
JSON_FLAG = "--json"


def _type_metavar(annotation: Any) -> str:
    """A value's placeholder from its type: ``list[Path]`` -> PATH, an enum -> [a|b]."""
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "[" + "|".join(str(member.value) for member in annotation) + "]"
    for kind, name in _TYPE_METAVARS.items():
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return name
    return "VALUE"


def _set_metavars(command: Any) -> None:
    """Give every value a readable placeholder, unless the command chose its own."""
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if param.param_type_name == "argument":
            param.metavar = param.name.upper()
        else:
            descriptor = getattr(param, "type_descriptor", None)
            annotation = descriptor.annotation if descriptor is not None else None
            param.metavar = _type_metavar(annotation)


def _argument_name(param: Any, *, bracket: bool = False) -> str:
    name = param.metavar or param.name.upper()
    return (f"[{name}]" if bracket else name) + ("..." if param.nargs != 1 else "")


def _wants_json(args: list[str]) -> bool:
    return JSON_FLAG in args[: args.index("--")] if "--" in args else JSON_FLAG in args


def _json_usage_error(exc: Exception, args: list[str]) -> None:
    """With --json on the command line, a usage error is also the error document on stdout."""
    if _wants_json(args):
        from bridge.commands.console import ErrorKind
        from bridge.commands.exits import Report

        message = getattr(exc, "format_message", lambda: str(exc))()
        Report(as_json=True).error_json(ErrorKind.USAGE, message)


class _Command(TyperCommand):
    """A command whose usage line reads ``[OPTIONS] PATHS...`` and whose usage errors keep
    the one JSON shape (typer writes ``{paths}...`` and says nothing on stdout)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument_name(param, bracket=not param.required))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """Arguments by their metavar alone (typer adds ``<list[Path]>``), then options."""
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return _parse_keeping_json(super().parse_args, ctx, args)


def _parse_keeping_json(parse: Any, ctx: Any, args: list[str]) -> list[str]:
    given = list(args)  # the parser consumes ``args``
    try:
        return list(parse(ctx, args))
    except typer.Exit:
        raise
    except Exception as exc:
        # click's UsageError, vendored by recent typer releases: matched by name
        if any(cls.__name__ == "UsageError" for cls in type(exc).__mro__):
            _json_usage_error(exc, given)
        raise


class _Group(TyperGroup):
    """A command with subcommands (``jobs list``), with the same usage-error handling."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return _parse_keeping_json(super().parse_args, ctx, args)


def _group(app: typer.Typer) -> Any:
    """A typer app of subcommands, laid out and parsed as every other command is."""
    app.info.cls = _Group
    app.info.context_settings = _CONTEXT
    app.rich_markup_mode = None
    for info in app.registered_commands:
        info.cls = _Command
        info.context_settings = {**_CONTEXT, **(info.context_settings or {})}
    group = typer.main.get_group(app)
    for command in group.commands.values():
        _set_metavars(command)
    return group


class _LazyCommands(TyperGroup):
    """A command group that imports a command's module the first time it is needed.

    The context and command types are click's, which typer vendors privately in recent
    releases and imports from click in older ones, hence ``Any`` in these signatures.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, name = target
        found = getattr(importlib.import_module(module), name)
        if isinstance(found, typer.Typer):  # a command with subcommands (``jobs list``)
            return _group(found)
        single = typer.Typer(add_completion=False, rich_markup_mode=None)
        single.command(cmd_name, cls=_Command, context_settings=_CONTEXT)(found)
        command = typer.main.get_command(single)
        _set_metavars(command)
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its whole first sentence, wrapped rather than cut off."""
        rows = [
            (name, command.get_short_help_str(limit=HELP_WIDTH * 2))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="imagen-bridge",
    cls=_LazyCommands,
    help="Run Imagen AI edits on your photos and merge the results into XMP sidecars.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=_CONTEXT,
    pretty_exceptions_show_locals=False,  # locals may hold the API key
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imagen-bridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Run Imagen AI edits on your photos and merge the results into XMP sidecars."""


def main() -> None:
    limit_arenas()
    app()
