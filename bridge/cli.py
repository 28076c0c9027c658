"""The ``imagen-bridge`` command line."""

from __future__ import annotations

import typer

from bridge import __version__
from bridge.commands.demo import demo_command
from bridge.commands.edit import edit_command
from bridge.commands.merge import merge_command, undo_command
from bridge.commands.profiles import profiles_command
from bridge.emulator.command import emulator_command

app = typer.Typer(
    name="imagen-bridge",
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


app.command("profiles")(profiles_command)
app.command("edit")(edit_command)
app.command("demo")(demo_command)
app.command("merge")(merge_command)
app.command("undo")(undo_command)


app.command("emulator")(emulator_command)


def main() -> None:
    app()
