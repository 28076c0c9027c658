"""The log never holds the API key or the token, not even inside a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

from bridge.server.logs import LOG_FILE, setup_logging, teardown_logging

KEY = "sk-imagen-SECRET-4242"
TOKEN = "tok-abcdefghijklmnopqrstuvwxyz0123456789"


def test_secrets_are_blanked_in_messages_and_tracebacks(tmp_path: Path) -> None:
    handlers = setup_logging(tmp_path, [KEY, TOKEN])
    try:
        log = logging.getLogger("bridge.test")
        log.warning("calling with key %s", KEY)
        try:
            raise RuntimeError(f"server echoed x-api-key: {KEY} and Bearer {TOKEN}")
        except RuntimeError:
            log.exception("it failed")
    finally:
        teardown_logging(handlers)
    text = (tmp_path / LOG_FILE).read_text()
    assert "calling with key [redacted]" in text
    assert "RuntimeError: server echoed x-api-key: [redacted] and Bearer [redacted]" in text
    assert KEY not in text and TOKEN not in text
    assert handlers[0] not in logging.getLogger().handlers
