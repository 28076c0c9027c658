"""Reading local files in bounded chunks: digests, part plans, and upload bodies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 2**20
MIN_PART_SIZE = 5 * 2**20  # S3: every part but the last must be at least 5 MiB
MAX_PART_SIZE = 5 * 2**30  # S3: no part may exceed 5 GiB
MAX_PARTS = 10_000


class SourceChangedError(Exception):
    """The file on disk no longer has the size the upload was planned for."""


def md5_base64(path: Path) -> str:
    """Base64 MD5 of the file (the ``Content-MD5`` form), read in chunks, never whole."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def plan_parts(size: int, *, preferred: int = 16 * 2**20) -> tuple[int, int]:
    """``(part_size, part_count)`` for a multipart upload of ``size`` bytes.

    Parts are at least 5 MiB and at most 10,000, so the part size grows for
    huge files; it is rounded up to whole MiB. An empty file is one empty part.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    part_size = max(preferred, MIN_PART_SIZE, math.ceil(size / MAX_PARTS))
    part_size = math.ceil(part_size / 2**20) * 2**20
    if part_size > MAX_PART_SIZE:
        raise ValueError(f"A file of {size} bytes is too large for a multipart upload")
    return part_size, part_count(size, part_size)


def part_count(size: int, part_size: int) -> int:
    if part_size < 1:
        raise ValueError("part_size must be positive")
    return max(1, math.ceil(size / part_size))


async def read_range(
    handle: BinaryIO,
    offset: int,
    length: int,
    on_bytes: Callable[[int], None],
    *,
    chunk_size: int = CHUNK_SIZE,
    before_last: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """Yield ``length`` bytes of the open file from ``offset``, one chunk in memory at a time.

    Reads run in a worker thread so a slow disk does not stall other transfers.
    A file that got shorter meanwhile raises :class:`SourceChangedError` rather
    than sending fewer bytes than the ``Content-Length`` promised.
    ``before_last`` is awaited once the last chunk is read, before it is yielded.
    The caller owns (and closes) ``handle``: a request aborted mid-body never
    finishes this generator.
    """
    await asyncio.to_thread(handle.seek, offset)
    remaining = length
    while remaining > 0:
        chunk = await asyncio.to_thread(handle.read, min(chunk_size, remaining))
        if not chunk:
            raise SourceChangedError("the file got shorter while it was being uploaded")
        remaining -= len(chunk)
        on_bytes(len(chunk))
        if remaining == 0 and before_last is not None:
            await before_last()
        yield chunk
