"""``imagen-bridge install-plugin``: put the Lightroom Classic plugin in place and pair it.

Pairing means the plugin can find and prove itself to this bridge: ``pairing.json`` in the
installed plugin folder holds the port, the token (the one in ``<config dir>/token``), the
config dir (where a running bridge's ``server.json`` names its live port) and the command
that starts the bridge. Lightroom's Lua cannot set file modes, so the token is only ever
written here: the file is 0600 and the plugin folder 0700, never world-readable.

The new copy is assembled next to the old one and swapped in by renames, so an interrupted
install leaves either the old plugin or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bridge import __version__
from bridge.commands.console import CommandFailed, ExitCode, UsageError, program_name
from bridge.commands.exits import Report, run_command
from bridge.settings import config_dir, load_settings

PLUGIN_NAME = "ImagenBridge.lrplugin"
PAIRING_FILE = "pairing.json"
SERVER_FILE = "server.json"
TOKEN_FILE = "token"  # noqa: S105 (a file name)


class InstallError(CommandFailed):
    """The plugin cannot be installed; the message says what to change."""


@dataclass(frozen=True)
class Installed:
    folder: Path
    port: int


def load_or_create_token(folder: Path) -> str:
    """The bridge's token in ``folder``, created as ``serve`` creates it when there is none
    (32 random bytes, URL-safe base64, mode 0600, never over a file that appeared meanwhile).
    """
    path = folder / TOKEN_FILE
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        with contextlib.suppress(FileExistsError):
            _write_private(path, token + "\n")
        stored = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"Cannot read or create the token file {path}: {exc}") from exc
    if not stored:
        raise InstallError(f"The token file {path} is empty; delete it and run this again")
    return stored


def plugin_source() -> Path:
    """The plugin's files in this checkout (``lua_plugin/`` beside the ``bridge`` package)."""
    source = Path(__file__).resolve().parents[2] / "lua_plugin" / PLUGIN_NAME
    if not (source / "Info.lua").is_file():
        raise InstallError(
            f"The plugin's files are not where this imagen-bridge expects them ({source}). "
            "Install from a source checkout of imagen-bridge."
        )
    return source


def default_modules_dir(
    platform: str = sys.platform, environ: Mapping[str, str] = os.environ
) -> Path:
    """Lightroom Classic's auto-loaded Modules folder on this (or the given) platform."""
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Adobe" / "Lightroom" / "Modules"
    if platform == "win32":
        appdata = environ.get("APPDATA")
        if not appdata:
            raise UsageError("APPDATA is not set: give the Modules folder with --dest")
        return Path(appdata) / "Adobe" / "Lightroom" / "Modules"
    raise UsageError(
        "Lightroom Classic runs on macOS and Windows only: give the folder with --dest"
    )


def serve_command() -> list[str]:
    """How the plugin's "Start bridge" runs this same bridge."""
    script = "imagen-bridge.exe" if os.name == "nt" else "imagen-bridge"
    beside = Path(sys.executable).parent / script
    found = str(beside) if beside.is_file() else shutil.which("imagen-bridge")
    return [found or script, "serve"]


def live_port(folder: Path) -> int | None:
    """The port a running bridge announced in ``server.json``, if any."""
    try:
        info = json.loads((folder / SERVER_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    port = info.get("port") if isinstance(info, dict) else None
    return port if isinstance(port, int) and 0 < port < 65536 else None


def pairing(port: int | None) -> dict[str, Any]:
    folder = config_dir()
    token = load_or_create_token(folder)
    return {
        "port": port or live_port(folder) or load_settings().port,
        "token": token,
        "config_dir": str(folder),
        "serve_command": serve_command(),
        "bridge_version": __version__,
    }


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def install(dest: Path, port: int | None = None) -> Installed:
    """Copies the plugin into ``dest`` (created if need be) and pairs it."""
    source = plugin_source()
    paired = pairing(port)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"Cannot create {dest}: {exc.strerror or exc}") from exc
    target = dest / PLUGIN_NAME
    staging = dest / f".{PLUGIN_NAME}.{secrets.token_hex(4)}.new"
    retired = dest / f".{PLUGIN_NAME}.{secrets.token_hex(4)}.old"
    try:
        staging.mkdir(mode=0o700)
        for item in sorted(source.iterdir()):
            if item.is_file() and item.name != PAIRING_FILE and not item.name.startswith("."):
                shutil.copyfile(item, staging / item.name)
        _write_private(staging / PAIRING_FILE, json.dumps(paired, ensure_ascii=False, indent=2))
        staging.chmod(0o700)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
    except OSError as exc:
        if retired.exists() and not target.exists():
            retired.rename(target)
        raise InstallError(f"Cannot install the plugin into {dest}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.rmtree(retired)
    return Installed(target, paired["port"])


def install_plugin_command(
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest",
            help="The folder to install into (default: Lightroom Classic's Modules folder).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="The bridge's port (default: the running or configured one).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print where it was installed as JSON for scripts.")
    ] = False,
) -> None:
    """Install the Lightroom Classic plugin and pair it with this bridge (port and token)."""
    report = Report(as_json=json_output)

    def work() -> ExitCode:
        installed = install(dest if dest is not None else default_modules_dir(), port)
        if json_output:
            data = {"plugin_dir": str(installed.folder), "port": installed.port}
            return report.result(ExitCode.OK, data)
        report.out.print(
            f"Installed the Lightroom plugin in {installed.folder}, paired with the bridge on "
            f"port {installed.port}.\nRestart Lightroom Classic, then find it in File > "
            "Plug-in Manager (Imagen Bridge) and under Library > Plug-in Extras. Start the "
            f"bridge with: {program_name()} serve",
            highlight=False,
            markup=False,
        )
        return ExitCode.OK

    raise typer.Exit(run_command(work, report))
