"""The bridge's access token: created once, in ``<config dir>/token``, readable by its owner only.

``serve`` requires it on every route but health; ``install-plugin`` and scripts read the same
file, so it lives here with nothing heavy imported.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from bridge.settings import config_dir

TOKEN_FILE = "token"  # noqa: S105 (a file name, not a secret)
_TOKEN_BYTES = 32
#: ``secrets.token_urlsafe(32)`` is 43 characters; anything much shorter was not written by us.
_MIN_CHARS = 32


class TokenError(Exception):
    """The token file cannot be read or written; the message names the file and why."""


def token_path(folder: Path | None = None) -> Path:
    return (folder if folder is not None else config_dir()) / TOKEN_FILE


def load_or_create_token(folder: Path | None = None) -> str:
    """The token in ``folder`` (default: the config dir), creating it (mode 0600) if absent.

    A new token is written whole to a temp file and linked into place, so two processes
    starting at once agree on one token and neither ever reads half a file. A file that is
    too short or readable by others is replaced: a leaked token must not live on.
    """
    path = token_path(folder)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise TokenError(f"Cannot create the folder {path.parent}: {exc.strerror or exc}") from exc
    for _ in range(3):
        existing = _read(path)
        if existing is not None:
            return existing
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        if _publish(path, token):
            return token
    raise TokenError(f"Cannot create the token file {path}: it keeps changing")


def _read(path: Path) -> str | None:
    """The stored token, or None when there is none worth keeping (a bad file is removed)."""
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"Cannot read the token file {path}: {exc}") from exc
    private = os.name == "nt" or not info.st_mode & 0o077
    if len(text) >= _MIN_CHARS and private and text.isprintable():
        return text
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return None


def _publish(path: Path, token: str) -> bool:
    """Put ``token`` at ``path`` unless a file appeared there first (then False)."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
    except OSError as exc:
        raise TokenError(f"Cannot write the token file {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return True
