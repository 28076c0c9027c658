"""Replace a file in a photographer's folder so it is never half-written and never clobbers a
concurrent writer.

Lightroom may rewrite a sidecar at any moment (auto-write). So: the current bytes are read once
(:func:`read_snapshot`), the new content is written to a hidden temp file in the same folder and
fsynced, the target is compared with the snapshot just before ``os.replace``, and the folder is
fsynced. A new file is published with ``os.link`` (fails if a file appeared meanwhile). The
remaining race, between the final comparison and the rename, is a few microseconds; closing it
would need a lock Lightroom does not take.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.durable import FILE_MODE, fsync_dir, link_new, write_new
from bridge.xmp.errors import PublishConflictError, PublishError

#: Write permission for anyone: a sidecar without it was locked by its owner on purpose.
_ANY_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_TEMP_PREFIX = ".imagen-bridge-"
_TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Snapshot:
    """A file as it was read: its bytes (``None``: it did not exist) and permission bits."""

    path: Path
    data: bytes | None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @property
    def exists(self) -> bool:
        return self.data is not None

    @property
    def read_only(self) -> bool:
        """No write bit at all: its owner locked it on purpose, so we leave it alone."""
        return self.mode is not None and not self.mode & _ANY_WRITE


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (read-only file, folder or drive)"
    if exc.errno == errno.ENOENT:
        return "the folder does not exist"
    return exc.strerror or str(exc)


def read_snapshot(path: Path, *, max_bytes: int) -> Snapshot:
    """Read ``path`` once (or note that it is absent), refusing anything but a small file."""
    try:
        # O_NONBLOCK: a FIFO planted under a sidecar's name must not hang us on open.
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise PublishError(f"Cannot write {path}: the folder does not exist") from None
        return Snapshot(path, None)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PublishError(f"{path} is a symbolic link; not touching it") from exc
        raise PublishError(f"Cannot read {path}: {_reason(exc)}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PublishError(f"{path} is not a regular file; not touching it")
        if info.st_size > max_bytes:
            raise PublishError(f"{path} is larger than {max_bytes} bytes; not touching it")
        data = read_bounded(fd, max_bytes + 1, expected=info.st_size)
    except OSError as exc:
        raise PublishError(f"Cannot read {path}: {_reason(exc)}") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise PublishError(f"{path} is larger than {max_bytes} bytes; not touching it")
    return Snapshot(path, data, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


def read_bounded(fd: int, limit: int, *, expected: int) -> bytes:
    """Up to ``limit`` bytes of ``fd``, read in chunks sized for the ``expected`` file: each
    read allocates its whole request, so a fixed 1 MB (or limit-sized) chunk would cost that
    much per small sidecar."""
    chunks: list[bytes] = []
    remaining = limit
    step = max(expected + 1, 1 << 16)
    while remaining > 0:
        chunk = os.read(fd, min(remaining, step))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _still(path: Path, expected: bytes | None) -> bool:
    """Compare-before-publish: does ``path`` hold exactly ``expected`` (``None``: nothing)?"""
    if expected is None and not path.parent.is_dir():
        return True
    try:
        current = read_snapshot(path, max_bytes=len(expected or b"")).data
    except PublishError:
        return False  # grew past the old size, or became unreadable: not what we read
    return current == expected


def _make_temp(folder: Path, data: bytes, mode: int | None) -> Path:
    """Write and fsync ``data`` to a new hidden file in ``folder``."""
    while True:
        temp = folder / f"{_TEMP_PREFIX}{secrets.token_hex(6)}{_TEMP_SUFFIX}"
        try:
            write_new(temp, data)
        except FileExistsError:
            continue
        break
    if mode is not None:
        try:
            temp.chmod(mode)
        except BaseException:
            _unlink_quietly(temp)
            raise
    return temp


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _keep_owner(temp: Path, snapshot: Snapshot) -> None:
    """When run with privileges (e.g. as root), do not hand the photographer's file to root."""
    if snapshot.uid is None or snapshot.gid is None or not hasattr(os, "chown"):
        return
    with contextlib.suppress(OSError):
        os.chown(temp, snapshot.uid, snapshot.gid)


def publish(
    snapshot: Snapshot,
    data: bytes,
    *,
    mode: int | None = None,
    before_replace: Callable[[Path], None] | None = None,
    sync_dir: bool = True,
) -> None:
    """Atomically make ``snapshot.path`` hold ``data``, unless it changed since the snapshot.

    ``mode`` overrides the permission bits (default: keep the old file's, or the umask's for a
    new file). ``before_replace`` runs after the temp file is durable and before the final
    comparison: a seam for tests that play a concurrent writer. ``sync_dir=False`` leaves the
    folder's fsync to a caller publishing many files there (one fsync instead of one each).
    Raises :class:`PublishConflictError` if the file changed, :class:`PublishError` on I/O
    errors; either way the target is as it was and no temp file is left.
    """
    target = snapshot.path
    if snapshot.read_only:
        raise PublishError(f"{target} is read-only; not touching it")
    keep_mode = mode if mode is not None else snapshot.mode
    try:
        temp = _make_temp(target.parent, data, keep_mode)
    except OSError as exc:
        raise PublishError(f"Cannot write {target}: {_reason(exc)}") from exc
    try:
        _keep_owner(temp, snapshot)
        if before_replace is not None:
            before_replace(target)
        if snapshot.exists:
            _replace_existing(snapshot, temp)
        else:
            _create_new(target, temp, data, keep_mode)
    except OSError as exc:
        raise PublishError(f"Cannot write {target}: {_reason(exc)}") from exc
    finally:
        _unlink_quietly(temp)
    if sync_dir:
        sync_folder(target, "written")


def _changed_error(target: Path) -> PublishConflictError:
    return PublishConflictError(
        f"{target} changed while merging (Lightroom may be writing it); "
        "it was left as it is now; try again"
    )


def _replace_existing(snapshot: Snapshot, temp: Path) -> None:
    if not _still(snapshot.path, snapshot.data):
        raise _changed_error(snapshot.path)
    temp.replace(snapshot.path)


def _create_new(target: Path, temp: Path, data: bytes, mode: int | None) -> None:
    """Publish without overwriting: a hard link fails if ``target`` appeared meanwhile."""
    try:
        if link_new(temp, target):
            return
        # No hard links here (FAT/exFAT cards, some network shares): create exclusively.
        write_new(target, data, mode=FILE_MODE if mode is None else mode)
    except FileExistsError:
        raise _changed_error(target) from None


def remove_published(snapshot: Snapshot) -> None:
    """Delete a file we created, if it still holds exactly what the snapshot says."""
    target = snapshot.path
    if _still(target, None):
        return
    if not _still(target, snapshot.data):
        raise _changed_error(target)
    try:
        target.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PublishError(f"Cannot remove {target}: {_reason(exc)}") from exc
    sync_folder(target, "removed")


def sync_folder(target: Path, done: str) -> None:
    """Sync the folder of ``target`` after it was ``done`` (written, removed)."""
    try:
        fsync_dir(target.parent)
    except OSError as exc:
        raise unsynced(target, done, exc) from exc


def unsynced(target: Path, done: str, exc: OSError) -> PublishError:
    """The error for a change that happened but whose folder could not be synced: it may not
    survive a crash."""
    return PublishError(
        f"{target} was {done}, but its folder could not be synced to disk ({_reason(exc)}); "
        "the change may be lost if the computer crashes"
    )
