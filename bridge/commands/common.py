"""What every one-shot command shares: exit codes, consoles, logging, turning errors into exits.

Exit codes follow Imagen's own CLI: 0 success, 1 the run (or some photos)
failed, 2 usage, configuration or authentication problems; 130 after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from enum import IntEnum
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from bridge.emulator.faults import FaultConfigError
from bridge.imagen import ImagenAuthError, ImagenError, ImagenValidationError
from bridge.jobs.plan import PlanError
from bridge.settings import SettingsError
from bridge.transfer import TransferError


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    CANCELLED = 130


class UsageError(Exception):
    """The command line asks for something that cannot work; the message says what to change."""


_USAGE_ERRORS: tuple[type[Exception], ...] = (
    UsageError,
    SettingsError,
    PlanError,
    ImagenAuthError,
    ImagenValidationError,
    FaultConfigError,
)


def consoles() -> tuple[Console, Console]:
    """stdout for results (tables, JSON), stderr for notices, progress and errors."""
    return Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)


_HANDLER_NAME = "imagen-bridge-cli"


def command_logger(err: Console) -> logging.Logger:
    """Warnings (retries, skipped outputs) go to stderr, drawn well alongside live progress."""
    logger = logging.getLogger("bridge")
    logger.setLevel(logging.WARNING)
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
    handler: logging.Handler
    if err.is_terminal:
        handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(err.file)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.set_name(_HANDLER_NAME)
    logger.addHandler(handler)
    return logger


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
