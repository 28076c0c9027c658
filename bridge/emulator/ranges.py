"""The single byte ranges S3 serves (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``).

Like S3 (and RFC 9110), a Range header that does not parse, or asks for several ranges, is
ignored and the whole object is sent; a well-formed range that selects no byte is 416.
"""

from __future__ import annotations

import re

from bridge.emulator.s3errors import StoreError

_SINGLE_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})", re.ASCII)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte positions to send, or None for the whole object.

    Raises ``StoreError`` ``InvalidRange`` (416) when the range is unsatisfiable.
    """
    if header is None:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None  # "bytes=-" is malformed
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # malformed, so ignored
    if first >= size:
        raise _unsatisfiable(header, size)
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _unsatisfiable(header: str, size: int) -> StoreError:
    return StoreError(
        416,
        "InvalidRange",
        "The requested range is not satisfiable",
        RangeRequested=header[:200],
        ActualObjectSize=size,
    )
