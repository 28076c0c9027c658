"""The ``imagen-bridge`` command line.

Commands are imported only when run (or when help lists them): ``merge`` and ``undo`` stay
quick to start because they never load the HTTP stacks that ``edit`` and ``emulator`` need.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from bridge import __version__

# name -> (module, function): the typer-annotated function that implements the command.
_COMMANDS: dict[str, tuple[str, str]] = {
    "profiles": ("bridge.commands.profiles", "profiles_command"),
    "edit": ("bridge.commands.edit", "edit_command"),
    "demo": ("bridge.commands.demo", "demo_command"),
    "merge": ("bridge.commands.merge", "merge_command"),
    "undo": ("bridge.commands.merge", "undo_command"),
    "emulator": ("bridge.emulator.command", "emulator_command"),
    "serve": ("bridge.commands.serve", "serve_command"),
}


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
        module, function = target
        single = typer.Typer(add_completion=False)
        single.command(cmd_name)(getattr(importlib.import_module(module), function))
        return typer.main.get_command(single)


app = typer.Typer(
    name="imagen-bridge",
    cls=_LazyCommands,
    help="Run Imagen AI edits on your photos and merge the results into XMP sidecars.",
    no_args_is_help=True,
    add_completion=False,
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
    app()
