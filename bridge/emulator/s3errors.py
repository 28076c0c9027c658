"""S3's error vocabulary: the exception the store raises and the XML body S3 answers with.

Clients (the bridge, the official SDK, curl) read the ``<Code>`` of these bodies to decide
whether to retry, refresh a link or give up, so codes, statuses and the body shape follow S3.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from xml.sax.saxutils import escape

from aiohttp import web

XML_CONTENT_TYPE = "application/xml"

# Characters XML 1.0 cannot carry at all (escaping does not help); a hostile key may hold them.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class StoreError(Exception):
    """An S3 error: ``code`` (e.g. ``NoSuchKey``), human ``message`` and HTTP ``status``.

    ``fields`` are the extra elements S3 adds to the body (``Key``, ``UploadId``, ...).
    """

    def __init__(self, status: int, code: str, message: str, **fields: str | int | float) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields: dict[str, str] = {name: str(value) for name, value in fields.items()}


def new_request_id() -> str:
    """A request id in S3's style (16 upper-case hex digits)."""
    return secrets.token_hex(8).upper()


def _xml_text(value: str) -> str:
    return escape(_NOT_XML_CHAR.sub("\ufffd", value))


def error_xml(code: str, message: str, request_id: str, fields: Mapping[str, str]) -> bytes:
    """The body S3 sends with an error: ``<Error><Code>..</Code><Message>..</Message>...``."""
    elements = [("Code", code), ("Message", message), *fields.items(), ("RequestId", request_id)]
    inner = "".join(f"<{name}>{_xml_text(value)}</{name}>" for name, value in elements)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


def error_response(error: StoreError, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """An aiohttp response carrying ``error`` exactly as S3 would (aiohttp drops it on HEAD)."""
    request_id = new_request_id()
    response = web.Response(
        status=error.status,
        body=error_xml(error.code, error.message, request_id, error.fields),
        content_type=XML_CONTENT_TYPE,
        headers=headers,
    )
    response.headers["x-amz-request-id"] = request_id
    return response
