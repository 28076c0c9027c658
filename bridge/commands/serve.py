"""``imagen-bridge serve``: the localhost API (docs/api.md) until SIGTERM or Ctrl-C.

Clients find it through ``<config dir>/server.json`` and authenticate with the token in
``<config dir>/token``. One server per data dir; stopping records in-flight steps, and the
next start resumes every unfinished job.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape

from bridge.commands.console import ExitCode, consoles
from bridge.jobs.engine import JobEngine
from bridge.server.instance import AlreadyRunning, ServerInfo, server_file
from bridge.server.run import PortInUse, run_server
from bridge.server.token import TokenError, token_path
from bridge.settings import Settings, SettingsError, load_settings


def serve_command(
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one; default: settings)."
        ),
    ] = None,
) -> None:
    """Serve the bridge's localhost API on 127.0.0.1 for Lightroom, editors and scripts."""
    _, err = consoles()
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(ExitCode.USAGE) from exc

    def ready(info: ServerInfo) -> None:
        err.print(
            f"Serving {info.url} (pid {info.pid}). Clients find it in {server_file()} and "
            f"authenticate with the token in {token_path()}. Stop with Ctrl-C.",
            highlight=False,
        )

    def notice(text: str) -> None:
        err.print(text, style="yellow", highlight=False)

    try:
        stopped_by = asyncio.run(_serve(settings, port, ready, notice))
    except (AlreadyRunning, PortInUse, TokenError) as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(ExitCode.USAGE) from exc
    raise typer.Exit(ExitCode.CANCELLED if stopped_by == signal.SIGINT else ExitCode.OK)


async def _serve(
    settings: Settings,
    port: int | None,
    ready: Callable[[ServerInfo], None],
    notice: Callable[[str], None],
) -> int:
    """Run until SIGTERM or SIGINT; returns the signal that stopped it."""
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(number: int) -> None:
        received.append(number)
        stop.set()

    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        if sys.platform == "win32":  # no loop signal handlers there; Ctrl-C still arrives
            signal.signal(number, lambda n, _frame: loop.call_soon_threadsafe(on_signal, n))
        else:
            loop.add_signal_handler(number, on_signal, number)
    await run_server(
        settings,
        settings.port if port is None else port,
        # jobs left unfinished are resumed once the API answers (run_server), and orphans
        # of other processes keep being adopted while it serves
        functools.partial(JobEngine.open, notice=notice, resume=False, adopt=True, isolate=True),
        stop,
        on_ready=ready,
    )
    return received[0] if received else signal.SIGTERM
