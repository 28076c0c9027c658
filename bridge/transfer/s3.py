"""Reading S3-style error responses (XML) to tell an expired link from other refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

MAX_ERROR_BODY = 64 * 1024

_EXPIRED_CODES = frozenset({"ExpiredToken", "RequestExpired", "TokenRefreshRequired"})


@dataclass(frozen=True)
class StorageRefusal:
    """What a storage server said when it refused a request."""

    status: int
    code: str | None
    message: str | None

    @property
    def link_expired(self) -> bool:
        """S3 answers an expired presigned URL with 403 AccessDenied "Request has expired"."""
        if self.status not in (400, 403):
            return False
        if self.code in _EXPIRED_CODES:
            return True
        return self.code == "AccessDenied" and "expired" in (self.message or "").lower()

    def describe(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.code:
            parts.append(self.code)
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text


def parse_refusal(status: int, body: bytes) -> StorageRefusal:
    """Extract ``<Error><Code>``/``<Message>`` from an S3 XML body; tolerate anything else."""
    code: str | None = None
    message: str | None = None
    try:
        # xmltodict never resolves external entities; the body is capped by the caller.
        document: Any = xmltodict.parse(body[:MAX_ERROR_BODY], disable_entities=True)
    except (ExpatError, ValueError):  # not XML: a body without a code
        document = None
    error = document.get("Error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        code = _text(error.get("Code"))
        message = _text(error.get("Message"))
    elif body:
        message = body[:200].decode("utf-8", "replace").strip() or None
    return StorageRefusal(status, code, message)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None
