"""Files read as one: how the object store serves a multipart object without copying it.

S3 completes a multipart upload without moving its bytes; copying 600 MB of parts into one
file made the emulator's complete take seconds, and the client's benchmark measured that.
"""

from __future__ import annotations

import bisect
import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO


class Concatenation(io.RawIOBase):
    """The files in ``paths`` (of the given ``sizes``) end to end, readable and seekable.

    One file is open at a time, so an object of 10,000 parts needs one descriptor.
    """

    def __init__(self, paths: Sequence[Path], sizes: Sequence[int]) -> None:
        if len(paths) != len(sizes):
            raise ValueError("one size per file")
        self._paths = list(paths)
        self._starts = list(itertools.accumulate(sizes, initial=0))
        self._position = 0
        self._open: tuple[int, BinaryIO] | None = None

    @property
    def size(self) -> int:
        return self._starts[-1]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._position >= self.size or not len(buffer):
            return 0
        index = bisect.bisect_right(self._starts, self._position) - 1
        handle = self._file(index)
        handle.seek(self._position - self._starts[index])
        wanted = min(len(buffer), self._starts[index + 1] - self._position)
        view = memoryview(buffer).cast("B")[:wanted]
        count = handle.readinto(view)  # type: ignore[attr-defined]
        if not count:
            raise OSError(f"{self._paths[index]} is shorter than recorded")
        self._position += count
        return int(count)

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None
        super().close()

    def _file(self, index: int) -> BinaryIO:
        if self._open is None or self._open[0] != index:
            if self._open is not None:
                self._open[1].close()
                self._open = None
            self._open = (index, self._paths[index].open("rb", buffering=0))
        return self._open[1]
