"""Running a network command: what escapes it becomes a message on stderr and an exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from rich.console import Console
from rich.markup import escape

from bridge.commands.console import ExitCode, UsageError
from bridge.emulator.faults import FaultConfigError
from bridge.imagen import ImagenAuthError, ImagenError, ImagenValidationError
from bridge.jobs.plan import PlanError
from bridge.settings import SettingsError
from bridge.transfer import TransferError

_USAGE_ERRORS: tuple[type[Exception], ...] = (
    UsageError,
    SettingsError,
    PlanError,
    ImagenAuthError,
    ImagenValidationError,
    FaultConfigError,
)


def run_command(coro: Coroutine[Any, Any, ExitCode], err: Console) -> ExitCode:
    """Run ``coro`` and map what escapes it to a message on stderr and an exit code."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        err.print("Cancelled.", style="yellow")
        return ExitCode.CANCELLED
    except _USAGE_ERRORS as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}", highlight=False)
        return ExitCode.USAGE
    except (ImagenError, TransferError, OSError) as exc:
        err.print(f"[red]Failed:[/red] {escape(str(exc))}", highlight=False)
        return ExitCode.FAILED
