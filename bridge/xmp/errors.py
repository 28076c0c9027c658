"""Errors raised by the XMP layer.

``str()`` of every error is a complete, user-facing sentence: callers show it as is.
"""

from __future__ import annotations


class XmpError(Exception):
    """Base class: something about an XMP packet or its container is not acceptable."""


class XmpParseError(XmpError):
    """The bytes are not a well-formed XMP packet (encoding, XML syntax, structure)."""


class XmpSecurityError(XmpError):
    """The input looks hostile or exceeds a safety limit (DTD, entities, size, depth)."""


class XmpMismatchError(XmpError):
    """The incoming settings do not belong to this photo, or carry nothing to merge."""


class XmpContainerError(XmpError):
    """A DNG/TIFF/JPEG has no embedded XMP packet, or its structure is malformed."""


class SidecarRefusedError(XmpError):
    """This photo's sidecar cannot be chosen safely (shared stem, foreign sidecar, ...)."""


class EmbeddedXmpPhotoError(SidecarRefusedError):
    """DNG/JPEG/TIFF-like photo: its XMP lives inside the file, so it gets no sidecar."""


class PublishError(XmpError):
    """Writing a file failed (read-only, disk full, missing folder); the target is intact."""


class PublishConflictError(PublishError):
    """The target changed between reading and replacing it; nothing was written."""


class JournalError(XmpError):
    """The merge journal cannot do what was asked (unknown merge, already undone, damaged)."""
