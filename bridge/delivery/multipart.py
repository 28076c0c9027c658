"""A ``multipart/form-data`` body whose file part is streamed from disk.

Its exact length is known up front (text parts are small, the file's size is known), so it
goes with a ``Content-Length`` rather than chunked, and never more than one chunk of the
file is in memory.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from bridge.transfer.files import read_range


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """Text ``fields`` in order, then the file as part ``file_field``."""

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        *,
        file_field: str,
        path: Path,
        size: int,
        mime: str,
        part_name: str,
    ) -> None:
        self.boundary = "imagen-bridge-" + secrets.token_hex(16)
        dash = f"--{self.boundary}\r\n".encode()
        head = bytearray()
        for name, value in fields:
            head += dash
            head += f'Content-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'.encode()
            head += value.encode("utf-8") + b"\r\n"
        head += dash
        head += (
            f'Content-Disposition: form-data; name="{_quoted(file_field)}"; '
            f'filename="{_quoted(part_name)}"\r\nContent-Type: {mime}\r\n\r\n'
        ).encode()
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._path = path
        self._size = size

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    async def stream(self, on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
        """The body; ``on_bytes`` hears of each chunk of the file. Opens the file afresh."""
        yield self._head
        handle = await asyncio.to_thread(self._path.open, "rb")
        try:
            async for chunk in read_range(handle, 0, self._size, on_bytes):
                yield chunk
        finally:
            handle.close()
        yield self._tail
