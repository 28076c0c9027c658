"""One ``serve`` per data dir, and where clients find it.

A lock file in the data dir (``fcntl.flock``; ``msvcrt.locking`` on Windows) is held while
the server runs, so a second ``serve`` refuses and names the first; the OS drops the lock
when the process dies, however it dies. ``<config dir>/server.json`` tells clients the URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bridge import __version__
from bridge.server.models import API_VERSION
from bridge.settings import config_dir

LOCK_FILE = "server.lock"
SERVER_FILE = "server.json"


class AlreadyRunning(Exception):
    """Another ``serve`` holds this data dir; the message names it."""


@dataclass(frozen=True)
class ServerInfo:
    url: str
    port: int
    pid: int
    version: str
    api_version: int
    started_at: str

    @classmethod
    def now(cls, port: int) -> ServerInfo:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(
            url=f"http://127.0.0.1:{port}/v1",
            port=port,
            pid=os.getpid(),
            version=__version__,
            api_version=API_VERSION,
            started_at=stamp,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def server_file(folder: Path | None = None) -> Path:
    return (folder if folder is not None else config_dir()) / SERVER_FILE


class InstanceLock:
    """Held from :meth:`acquire` to :meth:`release`. Its file's byte 0 is the lock; what
    follows names the holder (readable while locked, even on Windows)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        handle = os.fdopen(fd, "r+b")
        try:
            _lock(handle)
        except OSError:
            holder = _holder(self.path)
            handle.close()
            raise AlreadyRunning(
                f"another imagen-bridge serve is already running on the data dir "
                f"{self.path.parent}{holder}; stop it first (or use another data dir)"
            ) from None
        self._handle = handle
        self.describe(f"pid {os.getpid()}")

    def describe(self, holder: str) -> None:
        """Say who holds the lock (shown to a second ``serve``)."""
        assert self._handle is not None
        self._handle.seek(1)
        self._handle.truncate()
        self._handle.write(holder.encode("utf-8"))
        self._handle.flush()

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                _unlock(self._handle)
            self._handle.close()
            self._handle = None


def _holder(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(1)
            text = handle.read(500).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_server_file(info: ServerInfo, path: Path) -> None:
    """Atomically: a client never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temp.write_text(info.to_json() + "\n", encoding="utf-8")
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def remove_server_file(info: ServerInfo, path: Path) -> None:
    """Remove it if it still describes this server (a newer one may have replaced it)."""
    try:
        current: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(current, dict) and current.get("pid") == info.pid:
        path.unlink(missing_ok=True)
