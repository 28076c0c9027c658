"""``imagen-bridge profiles``: the account's editing profiles, as a table or JSON."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bridge.commands.console import ExitCode, command_logger, program_name
from bridge.commands.exits import Report, run_command
from bridge.commands.session import imagen_client
from bridge.settings import load_settings


def profiles_command(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the profiles as JSON for scripts.")
    ] = False,
) -> None:
    """List your Imagen profiles: key, name, type, and whether they edit RAW or JPEG."""
    report = Report(as_json=json_output)
    out, err = report.out, report.err

    async def flow() -> ExitCode:
        settings = load_settings()
        async with imagen_client(settings, err=err, logger=command_logger(err)) as client:
            profiles = await client.profiles()
        if json_output:
            rows = [p.model_dump(mode="json") for p in profiles]
            return report.result(ExitCode.OK, {"profiles": rows})
        table = Table("key", "name", "type", "edits", title="Imagen profiles")
        for p in profiles:
            table.add_row(
                str(p.profile_key), p.profile_name or "", p.profile_type or "", p.image_type or ""
            )
        out.print(table)
        out.print(
            f"Use a key or an exact name with: {program_name()} edit --profile KEY PHOTOS...",
            highlight=False,
            markup=False,
        )
        return ExitCode.OK

    raise typer.Exit(run_command(flow(), report))
