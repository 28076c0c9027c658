"""The ``imagen-bridge`` command line."""

from __future__ import annotations

import typer

from bridge import __version__

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


def main() -> None:
    app()
