"""File names held compactly, so big listings cost about their characters, not 60 bytes each.

A merge keeps the names of every incoming file and of every photo and sidecar in the folders
it merges into (to match them), and nothing else per file; a Python ``str`` per name would be
most of its memory. A :class:`NameTable` is one string of all the names and their offsets.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import TypeVar, overload

T = TypeVar("T")
_SEPARATOR = "/"  # the one character no file name can hold


class OnDemand(Sequence[T]):
    """A read-only sequence whose items are made when read (:meth:`_item`), not stored."""

    __slots__ = ()

    def _item(self, position: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._item(position)


class NameTable(OnDemand[str]):
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

    def _item(self, position: int) -> str:
        start = self._ends[position - 1] + 1 if position else 0
        return self._text[start : self._ends[position]]
