"""Bodies to disk and what kind of image a file is: what both delivery emulators need.

An upload body is streamed into a temp file one chunk at a time (never held whole), hashed as
it goes, and refused past a size limit; a fault can cut the connection mid-body the way a
flaky network would. Kinds are told from the bytes themselves, never from names or headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

CHUNK = 256 * 1024
IDLE_TIMEOUT_S = 60.0


class Cut(ConnectionError):
    """The emulator dropped the connection on purpose (an injected fault)."""


class TooLarge(Exception):
    """The body ran past the limit; ``limit`` is what was allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Received:
    size: int
    sha256: str


def cut_connection(request: web.Request) -> None:
    """Abort the socket now; the client sees a reset (or no answer at all)."""
    if request.transport is not None:
        request.transport.abort()
    raise Cut("connection dropped (injected fault)")


async def receive_to_file(
    chunks: AsyncIterator[bytes],
    target: Path,
    *,
    limit: int,
    cut_after: int | None = None,
    request: web.Request | None = None,
) -> Received:
    """Write ``chunks`` to ``target`` (created new); cut the connection after ``cut_after``."""
    digest = hashlib.sha256()
    size = 0
    with target.open("xb") as sink:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(limit)
            await asyncio.to_thread(_absorb, sink, chunk, digest.update)
            if cut_after is not None and request is not None and size >= cut_after:
                cut_connection(request)
    return Received(size, digest.hexdigest())


async def request_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The raw body of ``request`` in chunks; a sender that stalls for a minute is dropped."""
    while True:
        async with asyncio.timeout(IDLE_TIMEOUT_S):
            chunk = await request.content.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _absorb(sink: BinaryIO, chunk: bytes, update: Callable[[bytes], object]) -> None:
    sink.write(chunk)
    update(chunk)


@dataclass(frozen=True)
class ImageFacts:
    """What the bytes are: a MIME type (None if not an image we know) and pixel size."""

    mime: str | None
    width: int = 0
    height: int = 0


_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (b"\xff\x0a", "image/jxl"),
)
_ISO_BRANDS = {b"avif": "image/avif", b"heic": "image/heic", b"heix": "image/heic"}
# JPEG start-of-frame markers (baseline, progressive, lossless...): not DHT, JPG or DAC.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def sniff_image(path: Path) -> ImageFacts:
    """The image kind of the file at ``path`` and, for JPEG, PNG and GIF, its size."""
    with path.open("rb") as stream:
        head = stream.read(32)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return ImageFacts("image/webp")
        if head[4:8] == b"ftyp" and head[8:12] in _ISO_BRANDS:
            return ImageFacts(_ISO_BRANDS[head[8:12]])
        mime = next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)
        if mime == "image/png" and len(head) >= 24:
            width, height = struct.unpack(">II", head[16:24])
            return ImageFacts(mime, width, height)
        if mime == "image/gif" and len(head) >= 10:
            width, height = struct.unpack("<HH", head[6:10])
            return ImageFacts(mime, width, height)
        if mime == "image/jpeg":
            return _jpeg_facts(stream)
        return ImageFacts(mime)


def _jpeg_facts(stream: BinaryIO) -> ImageFacts:
    """Walk the marker segments to the first start-of-frame; a broken JPEG is no image."""
    stream.seek(2)
    while True:
        byte = stream.read(1)
        while byte == b"\xff":  # fill bytes before a marker
            marker = stream.read(1)
            if marker != b"\xff":
                break
        else:
            return ImageFacts(None)
        if not marker:
            return ImageFacts(None)
        code = marker[0]
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return ImageFacts(None)
        length = struct.unpack(">H", length_bytes)[0]
        if code in _SOF:
            frame = stream.read(5)
            if len(frame) < 5:
                return ImageFacts(None)
            height, width = struct.unpack(">HH", frame[1:5])
            return ImageFacts("image/jpeg", width, height)
        if length < 2:
            return ImageFacts(None)
        stream.seek(length - 2, 1)
