"""What every command prints through: exit codes, the two consoles, JSON, warnings on stderr.

Exit codes follow Imagen's own CLI and the shell: 0 success, 1 the run (or some photos)
failed, 2 usage, configuration or authentication problems; after a stop signal 128 + its
number, as the shell reports a process the signal ended (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP),
but only once everything was cleaned up.
Kept free of the HTTP stacks so that ``merge`` and ``undo`` start quickly.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import signal
import sys
from enum import IntEnum, StrEnum
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from bridge import APP_NAME


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    HANGUP = 128 + 1
    CANCELLED = 128 + 2  # SIGINT, Ctrl-C
    TERMINATED = 128 + 15


#: The signals that stop a command cleanly (where the platform has them).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    sig
    for sig in (
        signal.SIGINT,
        getattr(signal, "SIGTERM", None),
        getattr(signal, "SIGHUP", None),
    )
    if sig is not None
)


def signal_exit_code(signum: int) -> ExitCode:
    """128 + the signal's number, as the shell reports a process that signal ended."""
    return ExitCode(128 + signum)


class ErrorKind(StrEnum):
    """``error.code`` in a command's JSON; each maps to one exit code."""

    USAGE = "usage"  # the command line asks for something that cannot work
    CONFIG = "config"  # settings (environment, config file) are not usable
    AUTH = "auth"  # the API key was refused
    FAILED = "failed"  # the work itself failed (network, storage, service)
    INTERRUPTED = "interrupted"  # a stop signal ended the command (after cleaning up)

    @property
    def exit_code(self) -> ExitCode:
        """The exit code; for INTERRUPTED, Ctrl-C's (``signal_exit_code`` gives any signal's)."""
        if self is ErrorKind.INTERRUPTED:
            return ExitCode.CANCELLED
        return ExitCode.FAILED if self is ErrorKind.FAILED else ExitCode.USAGE


class UsageError(Exception):
    """The command line asks for something that cannot work; the message says what to change."""


class CommandFailed(Exception):
    """The command could not do its work (exit 1); the message says what happened."""


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 photo``, ``2 photos``, ``0 photos`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def program_name() -> str:
    """How to run this program again, for the hints we print.

    ``imagen-bridge`` when that name on PATH is the program running; otherwise (say, from an
    unactivated ``.venv/bin``) the running program's absolute path, quoted for a shell.
    """
    running = Path(sys.argv[0])
    if running.stem != APP_NAME:  # not started as the installed script (python -m, tests)
        return APP_NAME
    on_path = shutil.which(APP_NAME)
    if on_path is not None and Path(on_path).resolve() == running.resolve():
        return APP_NAME
    return shlex.quote(str(running.absolute()))


def consoles() -> tuple[Console, Console]:
    """stdout for results (tables, JSON), stderr for notices, progress and errors."""
    return Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)


def json_text(data: object) -> str:
    """Exact JSON for stdout: UTF-8 kept readable, valid even for names that are not UTF-8.

    A path that is not UTF-8 holds lone surrogates; made visible, each is exactly the JSON
    escape ``\\udcXX``, so the output stays valid JSON and maps back to the bytes.
    """
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n"


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
