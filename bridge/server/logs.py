"""The server's log: a rotating file in the data dir (and stderr), secrets blanked out.

Redaction is done on the final text of every record, tracebacks included, so a secret
that reaches a message by any route (an exception's text, a URL) is still never written.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterable
from pathlib import Path

LOG_FILE = "server.log"
MAX_LOG_BYTES = 5 * 2**20
LOG_BACKUPS = 3
REDACTED = "[redacted]"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(_FORMAT)
        # Longest first, so a secret containing another is blanked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class _ClientErrorsWithoutTraceback(logging.Filter):
    """A malformed request (a request line over 8 KB, bad framing) is the client's error:
    aiohttp answers it with 400 and logs it with a traceback; keep the line, drop the trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name.startswith("aiohttp") and type(error).__name__ in _CLIENT_ERRORS:
            record.exc_info = None
            record.msg = f"{record.msg}: {error}"
        return True


_CLIENT_ERRORS = frozenset({"LineTooLong", "BadHttpMessage", "BadStatusLine", "InvalidHeader"})


def setup_logging(data_dir: Path, secrets: Iterable[str]) -> list[logging.Handler]:
    """Send every log record at INFO and above to ``<data_dir>/server.log`` and stderr.

    Returns the handlers added, for :func:`teardown_logging`.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    formatter = RedactingFormatter(secrets)
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(
            data_dir / LOG_FILE, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        ),
        logging.StreamHandler(),
    ]
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_ClientErrorsWithoutTraceback())
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handlers


def teardown_logging(handlers: Iterable[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
