"""File names held compactly, so big listings cost about their characters, not 60 bytes each.

A merge keeps the names of every incoming file and of every photo and sidecar in the folders
it merges into (to match them), and nothing else per file; a Python ``str`` per name would be
most of its memory. A :class:`NameTable` is one string of all the names and their offsets.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import overload

_SEPARATOR = "/"  # the one character no file name can hold


class NameTable(Sequence[str]):
    """The names, in the order given; each read makes a new ``str``."""

    __slots__ = ("_ends", "_text")

    def __init__(self, names: Iterable[str]) -> None:
        listed = list(names)
        if any(_SEPARATOR in name for name in listed):
            raise ValueError(f"a file name cannot hold {_SEPARATOR!r}")
        self._text = _SEPARATOR.join(listed)
        self._ends = array("Q")
        end = -1
        for name in listed:
            end += len(name) + 1
            self._ends.append(end)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        end = self._ends[index]  # IndexError past either end, as for a list
        position = index + len(self) if index < 0 else index
        start = self._ends[position - 1] + 1 if position else 0
        return self._text[start:end]
