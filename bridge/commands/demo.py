"""``imagen-bridge demo``: a small synthetic shoot edited end to end on the built-in emulator.

Always the emulator, even with an API key configured: the sample files are
synthetic stand-ins, and sending them to the real service would waste credits.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bridge.commands.console import ExitCode, UsageError, program_name
from bridge.commands.edit import EditArgs, EditOutcome, edit_flow
from bridge.commands.exits import Report, run_command
from bridge.emulator.app import EmulatorConfig
from bridge.emulator.faults import FaultConfig
from bridge.settings import load_settings
from bridge.xmp.develop import develop_settings
from bridge.xmp.errors import XmpError
from bridge.xmp.packet import parse_xmp

SYNTHETIC_HEADER = (
    b"IMAGEN-BRIDGE DEMO FILE: a synthetic stand-in for a camera RAW file. "
    b"It holds no image; only the built-in emulator accepts it.\n"
)
SAMPLE_NAMES = (
    "DSC_0001.NEF",
    "DSC_0002.NEF",
    "IMG_0003.CR2",
    "Hochzeit Müller 04.CR2",
    "婚礼 05.NEF",
    "Strand 🌅 06.ARW",
)
SAMPLE_SIZE = 256 * 1024
DEMO_PROFILE = "5700"  # CLEAN & CRISP, a RAW profile of the emulator's catalogue
SHOWN_SETTINGS = (
    "Exposure2012",
    "Contrast2012",
    "Highlights2012",
    "Shadows2012",
    "Temperature",
    "Tint",
    "Vibrance",
    "Saturation",
)


def check_new_or_empty(folder: Path) -> None:
    """The demo writes sample files and edits into ``folder``: never into one holding files."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(
            f"--folder {folder} is not a new or empty folder; the demo writes its sample "
            "shoot there and overwrites nothing"
        )


def make_sample_shoot(folder: Path) -> list[Path]:
    """Write the synthetic RAW stand-ins; each starts with a header saying what it is."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SAMPLE_NAMES:
        block = hashlib.sha256(name.encode()).digest()
        filler = block * (SAMPLE_SIZE // len(block))
        path = folder / name
        path.write_bytes((SYNTHETIC_HEADER + filler)[:SAMPLE_SIZE])
        paths.append(path)
    return paths


def sample_settings(sidecar: Path) -> dict[str, Any]:
    """A few develop settings from one returned sidecar, as Lightroom would get them."""
    try:
        settings = develop_settings(parse_xmp(sidecar.read_bytes()), is_raw=True)
    except (OSError, XmpError):
        return {}
    return {key: settings[key] for key in SHOWN_SETTINGS if key in settings}


def show_outcome(outcome: EditOutcome, shoot: Path, out: Console) -> None:
    out.print(f"Sample shoot (synthetic stand-ins): {escape(str(shoot))}", highlight=False)
    if outcome.first_output is None:
        return
    sidecar = Path(outcome.first_output)
    values = sample_settings(sidecar)
    if values:
        table = Table("setting", "value", title=f"Some develop settings in {sidecar.name}")
        for key, value in values.items():
            table.add_row(key, str(value))
        out.print(table)
    program = program_name()
    out.print(
        f"Next: `{escape(program)} profiles` lists profiles; `{escape(program)} edit PHOTOS "
        "--profile KEY` edits your own photos (on the emulator until an API key is configured).",
        highlight=False,
    )


def demo_command(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--folder",
            help="A new or empty folder for the sample shoot (default: a new temp folder).",
        ),
    ] = None,
    processing_s: Annotated[
        float,
        typer.Option("--processing-seconds", min=0.0, max=60.0, help="Emulated edit time."),
    ] = 0.5,
) -> None:
    """Edit a small synthetic sample shoot on the built-in emulator and show what came back."""
    report = Report()
    out = report.out
    base = folder or Path(tempfile.mkdtemp(prefix="imagen-bridge-demo-"))
    shoot = base / "shoot"

    async def flow() -> ExitCode:
        settings = load_settings()
        check_new_or_empty(base)
        photos = make_sample_shoot(shoot)
        args = EditArgs(
            paths=photos,
            profile=DEMO_PROFILE,
            photography_type="WEDDING",
            tools=frozenset({"crop", "subject_mask"}),
            export=True,
            out=base / "edits",
        )
        emulator = EmulatorConfig(faults=FaultConfig(processing_s=processing_s))
        code, result = await edit_flow(args, settings, report=report, demo=True, emulator=emulator)
        show_outcome(result, shoot, out)
        return code

    raise typer.Exit(run_command(flow(), report))
