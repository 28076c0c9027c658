"""The photo formats the bridge knows, and when two file names are the same name.

One definition of each, shared by planning an edit (``bridge.jobs``) and placing sidecars
(``bridge.xmp``), so that a file Imagen may edit is also a file whose sidecar can be found, and
two names that clash in one place clash in the other. Extensions are written lower-case and
without the dot, as :func:`extension_of` returns them.
"""

from __future__ import annotations

import unicodedata
from pathlib import PurePath

#: Raws Imagen edits (DNG is a raw to Imagen), in the order messages list them.
IMAGEN_RAW_EXTENSIONS = (
    "dng", "nef", "cr2", "arw", "nrw", "crw", "srf", "sr2", "orf", "raw",
    "rw2", "raf", "ptx", "pef", "rwl", "srw", "cr3", "3fr", "fff",
)  # fmt: skip
#: JPEGs Imagen edits.
IMAGEN_JPEG_EXTENSIONS = ("jpg", "jpeg")

#: Rendered (already demosaiced) formats. Lightroom treats everything else as raw, so a camera
#: maker's new raw extension needs no code change (see :func:`is_raw_file`).
RENDERED_EXTENSIONS = frozenset(
    {
        "jpg", "jpeg", "jpe", "jfif", "tif", "tiff", "png", "psd", "psb",
        "heic", "heif", "hif", "avif", "webp", "gif", "bmp", "jxl",
    }
)  # fmt: skip

#: Raw formats Camera Raw reads whose develop settings live in a sidecar (not DNG).
SIDECAR_RAW_EXTENSIONS = frozenset(
    {
        "3fr", "ari", "arw", "bay", "cap", "cr2", "cr3", "crw", "dcr", "dcs", "drf", "eip",
        "erf", "fff", "gpr", "iiq", "k25", "kdc", "mdc", "mef", "mos", "mrw", "nef", "nrw",
        "orf", "ori", "pef", "ptx", "pxn", "raf", "raw", "rw2", "rwl", "rwz", "sr2", "srf",
        "srw", "x3f",
    }
)  # fmt: skip

#: Formats that carry their XMP inside the file: DNG and every rendered format. Lightroom
#: ignores (or, for DNG, may prefer the embedded copy over) a sidecar, so their settings go
#: through Lightroom itself.
EMBEDDED_XMP_EXTENSIONS = frozenset({"dng"}) | RENDERED_EXTENSIONS

#: A sidecar's extension (``IMG_1.xmp``; darktable's ``IMG_1.CR2.xmp``).
SIDECAR_EXTENSION = "xmp"

#: Every photo type a sidecar could be meant for.
PHOTO_EXTENSIONS = SIDECAR_RAW_EXTENSIONS | EMBEDDED_XMP_EXTENSIONS


def collision_key(name: str) -> str:
    """Equal keys: Imagen, Lightroom or a case-insensitive disk could take one name for the
    other. Unicode caseless matching (``Straße`` = ``STRASSE``, ``é`` composed = decomposed)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name).casefold())


def split_name(name: str) -> tuple[str, str]:
    """``("IMG_1", "cr2")`` for ``IMG_1.CR2``; the extension as :func:`extension_of` gives it."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, extension_key(ext)


def extension_of(name: str) -> str:
    """``"cr2"`` for ``IMG_1.CR2``; ``""`` without one."""
    return split_name(name)[1]


def extension_key(extension: str) -> str:
    """An extension (no dot) as the sets above hold it: ASCII lower-cased. Anything else is kept
    as it is, so a look-alike letter (the Kelvin sign for ``K``, a long ``ſ``) never makes a
    name one of the known formats."""
    return extension.lower() if extension.isascii() else extension


def is_raw_file(photo: PurePath) -> bool:
    """True for camera raws and DNG; False for JPEG, TIFF, PSD, PNG, HEIC and other renders."""
    return extension_of(photo.name) not in RENDERED_EXTENSIONS
