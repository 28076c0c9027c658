"""Checks of local files made before anything is sent, for every target."""

from __future__ import annotations

import os
import stat
from pathlib import Path


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


def suffix_of(path: Path) -> str:
    return path.suffix.lower()
