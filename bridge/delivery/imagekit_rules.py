"""ImageKit's upload rules, applied before anything is sent, saying what they changed.

From ImageKit's upload documentation: a file name keeps Unicode letters, marks and digits,
``.`` and ``-``, and every other character (spaces too) becomes ``_``; tags are a comma
list of at most 500 characters without ``%``; a folder is at most 50 levels deep and holds
letters, marks, digits, ``/``, ``_`` and ``-``; the account's plan caps the file size.
Names are changed (and the change reported) as ImageKit itself would change them; what
ImageKit would refuse is refused here, before any upload.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

MAX_TAGS_CHARS = 500
MAX_FOLDER_DEPTH = 50
FREE_PLAN_MB = 25.0
# Image types ImageKit's media library stores and serves as images.
SUPPORTED_SUFFIXES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".avif": "image/avif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


def _keeps(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def clean_file_name(name: str) -> str:
    """The name ImageKit will store: disallowed characters become ``_``."""
    return "".join(ch if ch in ".-" or _keeps(ch) else "_" for ch in name)


def clean_folder(folder: str) -> tuple[str, list[str]]:
    """``/a/b`` from what was asked, the changes made, or ValueError past 50 levels."""
    changes: list[str] = []
    text = folder.replace("\\", "/")
    if text != folder:
        changes.append(f"folder {folder!r}: backslashes became '/'")
    cleaned = "".join(ch if ch in "/_-" or _keeps(ch) else "_" for ch in text)
    if cleaned != text:
        changes.append(
            f"folder {text!r}: characters other than letters, digits, '_' and '-' became '_'"
        )
    parts = [part for part in cleaned.split("/") if part]
    if len(parts) > MAX_FOLDER_DEPTH:
        raise ValueError(
            f"folder {folder!r} is {len(parts)} levels deep; ImageKit allows {MAX_FOLDER_DEPTH}"
        )
    return "/" + "/".join(parts), changes


def check_tags(tags: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """The tags as they will be sent, and every problem (``%``, commas, the 500 limit)."""
    problems: list[str] = []
    cleaned = tuple(tag.strip() for tag in tags if tag.strip())
    for tag in cleaned:
        if "%" in tag:
            problems.append(f"tag {tag!r}: ImageKit does not allow '%' in tags")
        if "," in tag:
            problems.append(f"tag {tag!r}: a tag cannot contain ',' (tags are a comma list)")
    joined = ",".join(cleaned)
    if len(joined) > MAX_TAGS_CHARS:
        problems.append(
            f"tags: {len(joined)} characters as a comma list; ImageKit allows {MAX_TAGS_CHARS}"
        )
    return cleaned, problems


@dataclass(frozen=True)
class ImagekitOptions:
    """Where and how files go: folder, tags, private, the overwrite policy, the plan limit.

    ``overwrite`` False (the default) never replaces a file at the same path; True makes the
    upload a new version of it. ``custom_metadata`` attaches job, photo and profile, which
    needs those fields created in the ImageKit account first.
    """

    folder: str = "/"
    tags: tuple[str, ...] = ()
    private: bool = False
    overwrite: bool = False
    max_file_mb: float = FREE_PLAN_MB
    custom_metadata: bool = True

    @property
    def max_file_size(self) -> int:
        return int(self.max_file_mb * 2**20)


@dataclass(frozen=True)
class Checked:
    """Folder and tags after the rules; the same for every file of one delivery."""

    folder: str
    tags: tuple[str, ...]
    changes: tuple[str, ...]


def check_options(options: ImagekitOptions) -> tuple[Checked | None, list[str]]:
    problems: list[str] = []
    tags, tag_problems = check_tags(options.tags)
    problems += tag_problems
    try:
        folder, changes = clean_folder(options.folder)
    except ValueError as exc:
        return None, [*problems, str(exc)]
    if problems:
        return None, problems
    return Checked(folder, tags, tuple(changes)), []
