"""Which photo files are raws, in Lightroom's sense (DNG counts as raw)."""

from __future__ import annotations

from pathlib import PurePath

# Rendered (already demosaiced) formats. Everything else is treated as raw, so a camera
# maker's new raw extension needs no code change.
RENDERED_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".png", ".psd", ".psb",
        ".heic", ".heif", ".hif", ".avif", ".webp", ".gif", ".bmp", ".jxl",
    }
)  # fmt: skip


def is_raw_file(photo: PurePath) -> bool:
    """True for camera raws and DNG; False for JPEG, TIFF, PSD, PNG, HEIC and other renders."""
    return photo.suffix.lower() not in RENDERED_EXTENSIONS
