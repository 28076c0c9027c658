"""A storage server on loopback that sends fewer bytes than it promised, on cue.

aiohttp will not write a response that breaks its own framing, so this one writes raw
HTTP/1.1 on a real socket: every lie a server or proxy can tell about a body's length
(a short ``206``, a ``Content-Length`` it does not keep, a body ended by closing the
connection, a ``Content-Range`` for another object) is one :class:`Lie`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum

_RANGE = re.compile(rb"^range:\s*bytes=(\d+)-\s*$", re.IGNORECASE | re.MULTILINE)


class Lie(Enum):
    HONEST = "honest"  # the whole rest of the object, framed right (206 for a Range)
    CUT = "cut"  # the promised Content-Length, then the connection closes halfway
    SHORT_206 = "short 206"  # a clean 206 whose Content-Length is short of its Content-Range
    SHORT_RANGE = "short range"  # a clean 206 for only part of what was asked
    UNKNOWN_TOTAL = "unknown total"  # a clean, partial 206 with Content-Range .../*
    NO_LENGTH = "no length"  # 200 with no Content-Length: the body ends when the socket does
    CHUNKS_CUT = "chunks cut"  # chunked, closed before the last chunk
    OTHER_OBJECT = "other object"  # a 206 resuming a different (longer) object
    STALL = "stall"  # the promised Content-Length, half sent, then silence (socket kept open)


@dataclass
class LyingStorage:
    """Serves ``data`` at any path; each request takes the next lie (then honest answers)."""

    data: bytes
    lies: list[Lie] = field(default_factory=list)
    ranges: list[int | None] = field(default_factory=list)  # the Range start of each request
    url: str = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            match = _RANGE.search(head)
            start = int(match.group(1)) if match else None
            self.ranges.append(start)
            lie = self.lies.pop(0) if self.lies else Lie.HONEST
            writer.write(self._answer(Lie.CUT if lie is Lie.STALL else lie, start))
            await writer.drain()
            if lie is Lie.STALL:
                await reader.read()  # until the client gives up and closes
        finally:
            writer.close()  # every answer ends its connection: no body can run into the next

    def _answer(self, lie: Lie, start: int | None) -> bytes:
        data, size = self.data, len(self.data)
        offset = start or 0
        rest = data[offset:]
        half = max(1, len(rest) // 2)  # a lie sends half of what is left
        if lie in (Lie.NO_LENGTH, Lie.CHUNKS_CUT):  # a 200 is the whole object: Range ignored
            cut = data[: size // 2]
            if lie is Lie.NO_LENGTH:
                return _head(200, {}) + cut
            return _head(200, {"Transfer-Encoding": "chunked"}) + b"%x\r\n%s\r\n" % (len(cut), cut)
        if start is None and lie is not Lie.OTHER_OBJECT:
            body = rest[:half] if lie is not Lie.HONEST else rest
            return _head(200, {"Content-Length": str(size)}) + body
        if lie is Lie.OTHER_OBJECT:  # the object was replaced by a longer one meanwhile
            longer = size + 1000
            return _head(206, _span(offset, longer - 1, longer, longer - offset)) + bytes(
                longer - offset
            )
        if lie is Lie.HONEST:
            return _head(206, _span(offset, size - 1, size, len(rest))) + rest
        if lie is Lie.CUT:
            return _head(206, _span(offset, size - 1, size, len(rest))) + rest[:half]
        if lie is Lie.SHORT_206:
            return _head(206, _span(offset, size - 1, size, half)) + rest[:half]
        if lie is Lie.SHORT_RANGE:
            return _head(206, _span(offset, offset + half - 1, size, half)) + rest[:half]
        assert lie is Lie.UNKNOWN_TOTAL
        return _head(206, _span(offset, offset + half - 1, None, half)) + rest[:half]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LyingStorage]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}/o/IMG_1.dng?X-Amz-Signature=t"
        async with server:
            yield self


def _span(first: int, last: int, total: int | None, length: int) -> dict[str, str]:
    shown = "*" if total is None else str(total)
    return {"Content-Range": f"bytes {first}-{last}/{shown}", "Content-Length": str(length)}


def _head(status: int, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 206: "Partial Content"}[status]
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
