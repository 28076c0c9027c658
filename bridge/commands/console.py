"""What every command prints through: exit codes, the two consoles, warnings on stderr.

Exit codes follow Imagen's own CLI: 0 success, 1 the run (or some photos)
failed, 2 usage, configuration or authentication problems; 130 after Ctrl-C.
Kept free of the HTTP stacks so that ``merge`` and ``undo`` start quickly.
"""

from __future__ import annotations

import logging
from enum import IntEnum

from rich.console import Console
from rich.logging import RichHandler


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    CANCELLED = 130


class UsageError(Exception):
    """The command line asks for something that cannot work; the message says what to change."""


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
