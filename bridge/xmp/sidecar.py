"""Which sidecar file belongs to a photo, the way Lightroom Classic looks for it.

Adobe names the sidecar of ``IMG_1.CR2`` ``IMG_1.xmp``: the extension is replaced, so two raws
sharing a stem (``IMG_1.CR2`` + ``IMG_1.NEF``) would share one sidecar. We refuse those rather
than guess. darktable's ``IMG_1.CR2.xmp`` is written only on request.

File systems photographers use (APFS, NTFS, exFAT) are case-insensitive and may store names in
decomposed Unicode, so every comparison goes through
:func:`~bridge.xmp.formats.collision_key`, and an existing sidecar keeps the exact name it has
on disk (``IMG_1.XMP`` stays ``IMG_1.XMP``).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bridge.xmp.errors import EmbeddedXmpPhotoError, SidecarRefusedError
from bridge.xmp.formats import (
    EMBEDDED_XMP_EXTENSIONS,
    PHOTO_EXTENSIONS,
    SIDECAR_EXTENSION,
    SIDECAR_RAW_EXTENSIONS,
    collision_key,
    extension_key,
    split_name,
)
from bridge.xmp.names import NameTable
from bridge.xmp.packet import XmpPacket
from bridge.xmp.values import elements, read_value

_SIDECAR_FOR_EXTENSION = "{http://ns.adobe.com/photoshop/1.0/}SidecarForExtension"

#: Photos that clash with a raw of the same stem over ``STEM.xmp``. DNG is among them because
#: Lightroom reads a DNG's sidecar when it is newer than the embedded XMP.
_SIDECAR_READERS = SIDECAR_RAW_EXTENSIONS | {"dng"}


class Naming(StrEnum):
    """How the sidecar is named: Adobe's ``IMG_1.xmp`` or darktable's ``IMG_1.CR2.xmp``."""

    ADOBE = "adobe"
    DARKTABLE = "darktable"


def is_listed(entry: os.DirEntry[str]) -> bool:
    """Files and symlinks count as names in a folder (a symlinked sidecar must be found, to be
    refused by name, not shadowed by a new file); folders and devices do not."""
    return entry.is_file() or entry.is_symlink()


@dataclass(frozen=True)
class SidecarLocation:
    """Where a photo's sidecar is (``exists``) or will be created."""

    photo: Path
    sidecar: Path
    exists: bool


class Folder:
    """One listing of a directory, so a batch of lookups costs one ``scandir``, not one each.

    It keeps only what placing a sidecar needs, each name once and nothing else (no paths, no
    keys): the photos sorted by stem and the sidecars by name, both as
    :func:`~bridge.xmp.formats.collision_key` compares them, found by bisection, in
    :class:`~bridge.xmp.names.NameTable` form. A folder of 20,000 raws and their sidecars
    costs about 1 MB.
    """

    __slots__ = ("_photos", "_sidecars", "path")

    def __init__(self, path: Path, names: Iterable[str]) -> None:
        self.path = path
        photos: list[str] = []
        sidecars: list[str] = []
        for name in names:
            ext = split_name(name)[1]
            if ext == SIDECAR_EXTENSION:
                sidecars.append(name)
            elif ext in PHOTO_EXTENSIONS:
                photos.append(name)
        self._photos = NameTable(sorted(photos, key=_stem_key))
        self._sidecars = NameTable(sorted(sidecars, key=collision_key))

    @classmethod
    def scan(cls, path: Path) -> Folder:
        """List the files of ``path`` (see :func:`is_listed`)."""
        try:
            with os.scandir(path) as entries:
                return cls(path, (e.name for e in entries if is_listed(e)))
        except OSError as exc:
            raise SidecarRefusedError(
                f"Cannot list the folder {path}: {exc.strerror or exc}"
            ) from exc

    def lookup(self, name: str) -> list[str]:
        """Photos and sidecars on disk named ``name`` when case and Unicode form are ignored."""
        stem, ext = split_name(name)
        key = collision_key(name)
        if ext == SIDECAR_EXTENSION:
            return _equal(self._sidecars, key, collision_key)
        return [found for found in self.photos_with_stem(stem) if collision_key(found) == key]

    def photos_with_stem(self, stem: str) -> list[str]:
        """Photo files (raw or embedded-XMP types) whose stem matches ``stem``."""
        return _equal(self._photos, collision_key(stem), _stem_key)

    def photo_stems(self) -> Iterator[str]:
        """The stem key of each photo here."""
        return map(_stem_key, self._photos)


def _stem_key(name: str) -> str:
    return collision_key(split_name(name)[0])


def _equal(names: NameTable, key: str, key_of: Callable[[str], str]) -> list[str]:
    """The names in ``names`` (sorted by ``key_of``) whose key is ``key``, in name order."""
    first = bisect.bisect_left(names, key, key=key_of)
    return sorted(names[first : bisect.bisect_right(names, key, lo=first, key=key_of)])


def locate_sidecar(
    photo: Path, *, naming: Naming = Naming.ADOBE, folder: Folder | None = None
) -> SidecarLocation:
    """Find (or name) the sidecar Lightroom uses for ``photo``; refuse where that is ambiguous.

    ``folder`` is a listing of ``photo.parent`` when the caller already has one.
    Raises :class:`EmbeddedXmpPhotoError` for DNG/JPEG/TIFF-like photos and
    :class:`SidecarRefusedError` for clashes, naming the files involved.
    """
    stem, ext = split_name(photo.name)
    if ext in EMBEDDED_XMP_EXTENSIONS:
        raise EmbeddedXmpPhotoError(
            f"{photo}: settings go to Lightroom (embedded-XMP type {ext.upper()}); "
            "its original is never rewritten and it gets no sidecar"
        )
    if ext not in SIDECAR_RAW_EXTENSIONS:
        raise SidecarRefusedError(f"{photo}: not a raw photo type that uses an XMP sidecar")
    if folder is None:
        folder = Folder.scan(photo.parent)
    if photo.name not in folder.photos_with_stem(stem):
        raise SidecarRefusedError(f"{photo}: no such photo")

    if naming is Naming.ADOBE:
        wanted = f"{stem}.{SIDECAR_EXTENSION}"
        rivals = [
            name
            for name in folder.photos_with_stem(stem)
            if name != photo.name and split_name(name)[1] in _SIDECAR_READERS
        ]
        if rivals:
            raise SidecarRefusedError(
                f"{photo}: {', '.join(rivals)} in the same folder shares its name, and both "
                f"would use the sidecar {wanted}; rename one of them or merge by hand"
            )
    else:
        wanted = f"{photo.name}.{SIDECAR_EXTENSION}"

    existing = folder.lookup(wanted)
    if len(existing) > 1:
        raise SidecarRefusedError(
            f"{photo}: several files could be its sidecar ({', '.join(existing)}); keep one of them"
        )
    if existing:
        return SidecarLocation(photo, folder.path / existing[0], exists=True)
    return SidecarLocation(photo, folder.path / wanted, exists=False)


def declared_extension(packet: XmpPacket) -> str | None:
    """``photoshop:SidecarForExtension`` (Adobe writes it since CS3), if the packet has one."""
    for description in packet.descriptions():
        value = description.get(_SIDECAR_FOR_EXTENSION)
        if value is not None:
            return value
        for child in elements(description):
            if child.tag == _SIDECAR_FOR_EXTENSION:
                found = read_value(child)
                return found if isinstance(found, str) else None
    return None


def check_declared_extension(declared: str | None, location: SidecarLocation) -> None:
    """Refuse a sidecar whose ``photoshop:SidecarForExtension`` names another photo type."""
    if declared is None or not declared.strip():
        return
    _, ext = split_name(location.photo.name)
    if extension_key(declared.strip().lstrip(".")) != ext:
        raise SidecarRefusedError(
            f"{location.sidecar}: it says it belongs to a .{declared.strip()} file "
            f"(photoshop:SidecarForExtension), not to {location.photo.name}; not touching it"
        )
