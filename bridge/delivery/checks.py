"""Checks of local files made before anything is sent, for every target."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from bridge.delivery.errors import DeliveryError


def local_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be delivered (missing, a folder, unreadable, empty), or None."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{path}: no such file"
    except OSError as exc:
        return f"{path}: cannot read it ({exc.strerror or exc})"
    if not stat.S_ISREG(info.st_mode):
        return f"{path}: not a regular file"
    if info.st_size == 0:
        return f"{path}: the file is empty"
    if not os.access(path, os.R_OK):
        return f"{path}: not readable"
    return None


async def require_size(path: Path, size: int) -> None:
    """Before each try: the file must still be as long as when it was planned (not grown,
    which would send a truncated copy, nor shrunk)."""
    try:
        now = (await asyncio.to_thread(path.stat)).st_size
    except OSError as exc:
        raise DeliveryError(f"{path}: cannot read it any more ({exc.strerror or exc})") from None
    if now != size:
        raise DeliveryError(f"{path} changed on disk while it was being delivered")


def suffix_of(path: Path) -> str:
    return path.suffix.lower()
