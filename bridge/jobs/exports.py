"""Exported JPEGs placed beside the photographer's work, named after their photos.

By default ``Imagen Export/`` next to each original (``DSC_0001.NEF`` ->
``Imagen Export/DSC_0001.jpg``); a job may name another folder, relative to each
original's folder or absolute. Nothing there is ever overwritten: a different file
of that name makes this one ``DSC_0001-2.jpg``; an identical one (a resumed job
placing it again) is taken as it is.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from bridge.durable import fsync_dir, fsync_file, link_new, make_dirs, open_new

DEFAULT_FOLDER = "Imagen Export"
_MAX_TRIES = 1000


def export_folder(photo: Path, folder: str) -> Path:
    chosen = Path(folder)
    return chosen if chosen.is_absolute() else photo.parent / chosen


def place_export(export: Path, photo: Path, folder: str) -> Path:
    """Publish a copy of ``export`` for ``photo`` in ``folder``; returns where it went."""
    dest = export_folder(photo, folder)
    make_dirs(dest)
    suffix = export.suffix.lower() or ".jpg"
    for n in range(1, _MAX_TRIES + 1):
        target = dest / (f"{photo.stem}{suffix}" if n == 1 else f"{photo.stem}-{n}{suffix}")
        try:
            _publish_copy(export, target)
        except FileExistsError:
            if target.is_file() and filecmp.cmp(export, target, shallow=False):
                return target
            continue
        fsync_dir(dest)
        return target
    raise FileExistsError(f"{dest} holds {_MAX_TRIES} files named like {photo.stem}{suffix}")


def _publish_copy(source: Path, target: Path) -> None:
    """A new name for ``source``'s bytes at ``target``, whole or not at all."""
    if link_new(source, target):
        return
    temp = target.with_name(f".{target.name}.part")
    fd = open_new(temp)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as inp:
            shutil.copyfileobj(inp, out, 1024 * 1024)
            out.flush()
            fsync_file(out.fileno())
        if not link_new(temp, target):  # no hard links here: an exclusive rename instead
            if target.exists():
                raise FileExistsError(target)
            temp.rename(target)
    finally:
        temp.unlink(missing_ok=True)
