"""Turning a server-supplied file name into a name that is safe to create on disk.

Download links carry a ``file_name`` chosen by the server. It decides where
bytes land on the photographer's disk, so it is treated as hostile: only its
last path component is kept, and anything that could still mean something
other than "a plain file in this folder" on Windows, macOS or Linux is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_NAME_BYTES = 255  # the limit of ext4, APFS and NTFS (in their own units; UTF-8 is strictest)

_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")
# Device names Windows resolves in any folder, with or without an extension.
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{i}" for i in range(10)}
    | {f"LPT{i}" for i in range(10)}
)


def safe_file_name(server_name: str) -> str:
    """The base name of ``server_name``, or ValueError if no safe name remains.

    ``../../x.xmp``, ``/etc/x`` and ``C:\\x\\y.xmp`` reduce to ``x.xmp``, ``x``
    and ``y.xmp``. Refused: empty names, ``.``/``..``, a trailing separator,
    NUL and other control characters, ``:`` (a Windows alternate data stream),
    Windows device names, trailing dots or spaces (Windows strips them, so the
    name on disk would differ), and names longer than 255 UTF-8 bytes.
    """
    if not isinstance(server_name, str):
        raise ValueError(f"File name must be text, got {type(server_name).__name__}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in server_name):
        raise ValueError(f"File name {server_name!r} contains control characters")
    base = _DRIVE_PREFIX.sub("", server_name).replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        raise ValueError(f"File name {server_name!r} does not name a file")
    if ":" in base:
        raise ValueError(f"File name {server_name!r} contains ':'")
    if base[-1] in ". ":
        raise ValueError(f"File name {server_name!r} ends with a dot or space")
    if base.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        raise ValueError(f"File name {server_name!r} is a reserved device name on Windows")
    if len(base.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"File name {server_name[:40]!r}… is longer than {MAX_NAME_BYTES} bytes")
    return base


def contained_path(folder: Path, name: str) -> Path:
    """``folder / name`` after proving, on resolved paths, that it stays inside ``folder``.

    A second line of defence behind :func:`safe_file_name`: even a name that
    slipped through could not place a file anywhere but directly in ``folder``.
    """
    root = folder.resolve()
    # normpath, not resolve: a symlink already sitting at the target is replaced, not followed.
    target = Path(os.path.normpath(root / name))
    if target.parent != root or target.name != name:
        raise ValueError(f"File name {name!r} would leave the folder {folder}")
    return target
