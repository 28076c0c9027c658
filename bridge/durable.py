"""Files that survive a crash: new files written whole, synced, then published atomically.

Imports nothing of the bridge, so the leaf packages ``bridge.xmp`` and ``bridge.transfer``
(which import nothing else of the bridge) share one definition of it.

Every publish goes the same way: write a new file beside the target (:func:`open_new`,
:func:`write_new`), sync it (:func:`fsync_file`), move it into place (``os.replace``, or
:func:`link_new` where an existing file must never be replaced), then sync the folder
(:func:`fsync_dir`) so the new name is on disk too. New files get ``0o666`` less the umask, as
any program's files do: nothing the bridge writes is executable.

One policy for syncing: a real error (EIO, a full disk) is raised, because a file reported as
saved must be saved; where the system cannot sync a folder at all (Windows has no folder
handles; some network and FUSE file systems answer EINVAL or ENOTSUP) there is nothing more to
do, and the sync is skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    _FULL_FSYNC = None
else:
    _FULL_FSYNC = getattr(fcntl, "F_FULLFSYNC", None)  # macOS only

#: Read and write for everyone, less the umask: ordinary file permissions.
FILE_MODE = 0o666
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})
#: ``os.link`` errors meaning "no hard links here" (FAT/exFAT cards, some network shares).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV})


def open_new(path: Path, *, mode: int = FILE_MODE) -> int:
    """Create ``path`` for writing and return its descriptor; FileExistsError if anything
    (a file, a link) is already there, so nothing is ever written through it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), mode)


def fsync_file(fd: int) -> None:
    """Push a file's bytes to the disk itself (``F_FULLFSYNC`` on macOS, where ``fsync`` only
    reaches the drive's cache)."""
    if _FULL_FSYNC is not None:
        try:
            fcntl.fcntl(fd, _FULL_FSYNC)
        except OSError:  # not every file system has it: a plain fsync then
            pass
        else:
            return
    os.fsync(fd)


def fsync_dir(folder: Path) -> None:
    """Make the names just created or renamed in ``folder`` durable (see the policy above)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Create ``path`` (never overwriting: FileExistsError), write ``data``, sync it.

    On failure nothing is left. The caller syncs the folder once its files are in place.
    """
    fd = open_new(path, mode=mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            fsync_file(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def link_new(source: Path, target: Path) -> bool:
    """Give the synced file ``source`` the new name ``target``, atomically and only if nothing
    has that name (FileExistsError otherwise). False where the file system has no hard links:
    the caller then publishes another way. The caller removes ``source`` and syncs the folder."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno in _NO_HARD_LINKS:
            return False
        raise
    return True


def make_dirs(folder: Path, *, mode: int = 0o777) -> None:
    """``mkdir -p`` whose new folders survive a crash: each parent that gained one is synced.

    ``mode`` is for ``folder`` itself; missing parents get the default, as with ``mkdir -p``.
    """
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=mode if new == folder else 0o777)
        except FileExistsError:
            if not new.is_dir():
                raise
            continue
        fsync_dir(new.parent)
